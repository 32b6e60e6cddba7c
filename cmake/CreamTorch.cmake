# LibTorch: the user's own (-DCMAKE_PREFIX_PATH=/path/to/libtorch or -DTorch_DIR=...),
# else the torch wheel that scripts/setup.sh installs into $CREAM_VENV
# (default ~/.cache/cream/venv). Sets CREAM_CUDA when the build is CUDA-enabled.

set(CREAM_MIN_TORCH 2.4)
set(CREAM_PYTHON "" CACHE FILEPATH "Python whose torch wheel provides LibTorch (default: $CREAM_VENV/bin/python)")
if(NOT CREAM_PYTHON)
  if(DEFINED ENV{CREAM_VENV})
    set(CREAM_PYTHON "$ENV{CREAM_VENV}/bin/python")
  else()
    set(CREAM_PYTHON "$ENV{HOME}/.cache/cream/venv/bin/python")
  endif()
endif()

# Ask the wheel for its CMake folder unless the user pointed us at a LibTorch.
if(NOT Torch_DIR AND NOT CMAKE_PREFIX_PATH AND EXISTS "${CREAM_PYTHON}")
  execute_process(COMMAND "${CREAM_PYTHON}" -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
                  OUTPUT_VARIABLE _cream_torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _cream_torch_rc ERROR_QUIET)
  if(_cream_torch_rc EQUAL 0)
    list(APPEND CMAKE_PREFIX_PATH "${_cream_torch_prefix}")
    message(STATUS "cream: LibTorch from the torch wheel of ${CREAM_PYTHON}")
  endif()
endif()

# CUDA: A100 (sm_80) and H100/H200 (sm_90) unless overridden; torch's own CUDA
# setup (run inside find_package(Torch)) reads TORCH_CUDA_ARCH_LIST.
# (torch's setup then sets CMAKE_CUDA_ARCHITECTURES OFF and passes -gencode itself).
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures (sm numbers)")
endif()
set(CREAM_CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(_cream_arch_list "")
  foreach(_arch ${CREAM_CUDA_ARCHITECTURES})
    string(REGEX REPLACE "^([0-9]+)([0-9])(-real|-virtual)?$" "\\1.\\2" _dotted "${_arch}")
    list(APPEND _cream_arch_list "${_dotted}")
  endforeach()
  set(ENV{TORCH_CUDA_ARCH_LIST} "${_cream_arch_list}")
endif()
if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()

# The CUDA a LibTorch was built for: "13.0" from the wheel's version.py or the
# archive's build-version ("2.11.0+cu130"); empty for a CPU LibTorch.
function(cream_torch_cuda_version prefix out)
  set(cuda "")
  if(EXISTS "${prefix}/version.py")
    file(STRINGS "${prefix}/version.py" line REGEX "^cuda")
    if(line MATCHES "'([0-9]+\\.[0-9]+)'")
      set(cuda "${CMAKE_MATCH_1}")
    endif()
  elseif(EXISTS "${prefix}/build-version")
    file(READ "${prefix}/build-version" line)
    if(line MATCHES "\\+cu([0-9]+)([0-9])")
      set(cuda "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
    endif()
  endif()
  set(${out} "${cuda}" PARENT_SCOPE)
endfunction()

find_package(Torch REQUIRED)
if(Torch_VERSION VERSION_LESS CREAM_MIN_TORCH)
  message(FATAL_ERROR "cream needs LibTorch >= ${CREAM_MIN_TORCH}; found ${Torch_VERSION} at ${Torch_DIR} "
                      "(run scripts/setup.sh for the torch wheel, or pass -DCMAKE_PREFIX_PATH=/path/to/libtorch)")
endif()
cream_torch_cuda_version("${TORCH_INSTALL_PREFIX}" CREAM_TORCH_CUDA)

set(CREAM_CUDA OFF)
if(CAFFE2_USE_CUDA)
  # Never two CUDA majors in one binary: nvcc's runtime headers must match the
  # CUDA LibTorch was built with (its kernels come from its own libraries).
  string(REGEX MATCH "^[0-9]+" _nvcc_major "${CUDAToolkit_VERSION}")
  string(REGEX MATCH "^[0-9]+" _torch_major "${CREAM_TORCH_CUDA}")
  if(_torch_major AND NOT _nvcc_major STREQUAL _torch_major)
    message(FATAL_ERROR "CUDA mismatch: LibTorch ${Torch_VERSION} was built for CUDA ${CREAM_TORCH_CUDA} but the "
                        "CUDA toolkit found is ${CUDAToolkit_VERSION} (${CUDAToolkit_BIN_DIR}); "
                        "install CUDA ${_torch_major}.x or a LibTorch built for CUDA ${_nvcc_major}.x")
  endif()
  if(CUDNN_VERSION AND CUDNN_VERSION VERSION_LESS 9)
    message(FATAL_ERROR "cuDNN mismatch: found cuDNN ${CUDNN_VERSION} (${CUDNN_INCLUDE_PATH}); LibTorch "
                        "${Torch_VERSION} needs cuDNN 9")
  endif()
  set(CREAM_CUDA ON)
  message(STATUS "cream: CUDA-enabled build (LibTorch ${Torch_VERSION}, CUDA ${CUDAToolkit_VERSION}, "
                 "architectures ${CREAM_CUDA_ARCHITECTURES}, TORCH_CUDA_ARCH_LIST $ENV{TORCH_CUDA_ARCH_LIST})")
else()
  message(STATUS "cream: CPU build (LibTorch ${Torch_VERSION})")
endif()
