# tests/hf/*.py: end-to-end checks of the built binary against the real Python
# clients (transformers, tokenizers), run with the venv's python (CREAM_PYTHON).
# Each script is one CTest test named hf_<script>; it gets CREAM (the binary) and
# CREAM_SOURCE_DIR in its environment and exits non-zero naming the failed case.
# Label `hf`. CREAM_TEST_DEVICE=cuda in ctest's environment (it passes through) runs the
# logits and greedy-generation comparisons on the GPU: scripts/device_check.sh does that.
file(GLOB CREAM_HF_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/hf/test_*.py)
foreach(script ${CREAM_HF_TESTS})
  get_filename_component(name ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "hf_" name ${name})
  add_test(NAME ${name} COMMAND ${CREAM_PYTHON} ${script} WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 900 LABELS hf
    ENVIRONMENT "CREAM=$<TARGET_FILE:cream>;CREAM_SOURCE_DIR=${PROJECT_SOURCE_DIR};CREAM_PYTHON=${CREAM_PYTHON};HF_HUB_OFFLINE=1;TRANSFORMERS_VERBOSITY=error;OMP_NUM_THREADS=1")
endforeach()

# tests/dist/*.py: several `cream train` processes on loopback (Gloo), and torchrun from
# the torch wheel. Label `dist`.
file(GLOB CREAM_DIST_TESTS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/dist/test_*.py)
foreach(script ${CREAM_DIST_TESTS})
  get_filename_component(name ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "dist_" name ${name})
  add_test(NAME ${name} COMMAND ${CREAM_PYTHON} ${script} WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 900 LABELS dist
    ENVIRONMENT "CREAM=$<TARGET_FILE:cream>;CREAM_SOURCE_DIR=${PROJECT_SOURCE_DIR};CREAM_PYTHON=${CREAM_PYTHON};HF_HUB_OFFLINE=1;TRANSFORMERS_VERBOSITY=error;OMP_NUM_THREADS=1")
endforeach()
