# Python-driven end-to-end checks of the built binary, run with the venv's python
# (CREAM_PYTHON). Each script tests/<label>/test_<name>.py is one CTest test named
# <label>_<name>, labelled <label>; it gets CREAM (the binary) and CREAM_SOURCE_DIR in its
# environment and exits non-zero naming the failed case.
#   hf    the real clients (transformers, tokenizers). CREAM_TEST_DEVICE=cuda in ctest's
#         environment (it passes through) runs the logits and greedy-generation
#         comparisons on the GPU: scripts/device_check.sh does that.
#   dist  several `cream train` processes on loopback (Gloo), and torchrun from the wheel.
#   repro scripts/reproduce_mini.sh's statistics (mini_summary.py).
foreach(label hf dist repro)
  file(GLOB scripts CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${label}/test_*.py)
  foreach(script ${scripts})
    get_filename_component(name ${script} NAME_WE)
    string(REGEX REPLACE "^test_" "${label}_" name ${name})
    add_test(NAME ${name} COMMAND ${CREAM_PYTHON} ${script} WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
    set_tests_properties(${name} PROPERTIES TIMEOUT 900 LABELS ${label}
      ENVIRONMENT "CREAM=$<TARGET_FILE:cream>;CREAM_SOURCE_DIR=${PROJECT_SOURCE_DIR};CREAM_PYTHON=${CREAM_PYTHON};HF_HUB_OFFLINE=1;TRANSFORMERS_VERBOSITY=error;OMP_NUM_THREADS=1")
  endforeach()
endforeach()
