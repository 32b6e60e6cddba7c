# Helpers that turn the src/<concern>/ and tests/<concern>/ folders into targets.
set(CREAM_ALL_CONCERNS "")
set(CREAM_ALL_CONCERN_NAMES "")

# LibTorch headers are heavy (~20 s per file): every torch-using target shares
# one precompiled header built by cream_torch_pch.
add_library(cream_torch_pch STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_anchor.cpp)
target_link_libraries(cream_torch_pch PUBLIC torch PRIVATE cream_warnings)
target_precompile_headers(cream_torch_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/torch_pch.h)

function(cream_use_torch_pch target)
  target_precompile_headers(${target} REUSE_FROM cream_torch_pch)
endfunction()

# cream_concern(name DEPS a b [TORCH]) defines cream_<name> from src/<name>/*.cpp
function(cream_concern name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  if(NOT sources)
    return()
  endif()
  set(deps "")
  set(uses_torch OFF)
  foreach(d ${ARG_DEPS})
    if(d STREQUAL "TORCH")
      set(uses_torch ON)
    elseif(d MATCHES "^cream_" AND NOT TARGET ${d})
      # a concern with no sources yet
    else()
      list(APPEND deps ${d})
    endif()
  endforeach()
  add_library(cream_${name} STATIC ${sources})
  target_include_directories(cream_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                           PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(cream_${name} PUBLIC ${deps} nlohmann_json::nlohmann_json PRIVATE cream_warnings)
  if(uses_torch)
    target_link_libraries(cream_${name} PUBLIC torch)
    cream_use_torch_pch(cream_${name})
  endif()
  set_property(GLOBAL PROPERTY CREAM_USES_TORCH_${name} ${uses_torch})
  set(CREAM_ALL_CONCERNS ${CREAM_ALL_CONCERNS} cream_${name} PARENT_SCOPE)
  set(CREAM_ALL_CONCERN_NAMES ${CREAM_ALL_CONCERN_NAMES} ${name} PARENT_SCOPE)
endfunction()

# tests/<name>/*.cpp -> test_<name>, linked against its own concern library (and,
# through it, the concerns below); tests/cli drives the built binary.
function(cream_concern_tests name)
  file(GLOB sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${name}/*.cpp)
  if(NOT sources)
    return()
  endif()
  add_executable(test_${name} ${sources} ${PROJECT_SOURCE_DIR}/tests/test_main.cpp)
  target_include_directories(test_${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/src)
  if(TARGET cream_${name})
    target_link_libraries(test_${name} PRIVATE cream_${name})
  else()
    target_link_libraries(test_${name} PRIVATE ${CREAM_ALL_CONCERNS})
  endif()
  target_link_libraries(test_${name} PRIVATE GTest::gtest cream_warnings)
  target_compile_definitions(test_${name} PRIVATE
    CREAM_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CREAM_BINARY="$<TARGET_FILE:cream>"
    CREAM_PYTHON="${CREAM_PYTHON}")
  get_property(uses_torch GLOBAL PROPERTY CREAM_USES_TORCH_${name})
  if(uses_torch)
    cream_use_torch_pch(test_${name})
  endif()
  if(name STREQUAL "cli")   # tests/cli run the built binary end to end
    add_dependencies(test_${name} cream)
  endif()
  # Every test carries its concern as a CTest label: `ctest -L gpu` runs tests/gpu.
  gtest_discover_tests(test_${name} WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
                       DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 900 LABELS ${name})
endfunction()
