# Run at build time (cmake -P) by the cream_build_commit target: writes the checkout's
# commit into OUT as a one-line header, rewriting it only when the text changes, so that
# only cmd_version.cpp recompiles after a commit. Outside a git checkout (a copied tree,
# a source tarball) the commit is "unknown"; uncommitted changes to tracked files add
# "-dirty": a figure produced by that binary cannot be traced to a commit alone.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE failed)
if(failed OR NOT commit)
  set(commit "unknown")
else()
  execute_process(COMMAND git -C "${SOURCE_DIR}" diff --quiet HEAD --
                  RESULT_VARIABLE dirty OUTPUT_QUIET ERROR_QUIET)
  if(dirty)
    string(APPEND commit "-dirty")
  endif()
endif()
set(text "#define CREAM_BUILD_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
