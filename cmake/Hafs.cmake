# Project-wide helpers. Warnings are errors in project code only (never in generated code).

set(HAFS_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

# hafs_project_target(TARGET): warnings-as-errors and, in a sanitizer build, ASan+UBSan.
function(hafs_project_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  if(HAFS_SANITIZE)
    target_compile_options(${target} PRIVATE ${HAFS_SANITIZE_FLAGS})
    target_link_options(${target} PRIVATE ${HAFS_SANITIZE_FLAGS})
  endif()
endfunction()

# hafs_library(NAME SOURCES ... DEPS ...): a component's static library.
function(hafs_library name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${A_DEPS} PRIVATE ${A_PRIVATE_DEPS})
  hafs_project_target(${name})
  if(HAFS_SANITIZE)
    # Static libraries carry the sanitizer link flags to whoever links them.
    target_link_options(${name} INTERFACE ${HAFS_SANITIZE_FLAGS})
  endif()
endfunction()

# hafs_binary(NAME SOURCES ... DEPS ... [NO_INSTALL] [SBIN] [JEMALLOC]): a daemon or tool, installed
# to bin/ (or sbin/ with SBIN); JEMALLOC links jemalloc as its malloc (option HAFS_JEMALLOC).
function(hafs_binary name)
  cmake_parse_arguments(A "NO_INSTALL;SBIN;JEMALLOC" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS})
  if(A_JEMALLOC AND HAFS_JEMALLOC AND NOT HAFS_SANITIZE)
    target_link_libraries(${name} PRIVATE PkgConfig::JEMALLOC)
  endif()
  hafs_project_target(${name})
  if(NOT A_NO_INSTALL)
    if(A_SBIN)
      install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
    else()
      install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    endif()
  endif()
endfunction()

# hafs_gtest(NAME LABEL unit|integration SOURCES ... DEPS ... [TIMEOUT s]):
# a GoogleTest binary whose cases ctest counts one by one.
function(hafs_gtest name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  add_executable(${name} ${A_SOURCES})
  target_link_libraries(${name} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  hafs_project_target(${name})
  gtest_discover_tests(${name}
    TEST_PREFIX "${name}."
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
    EXTRA_ARGS --gtest_color=no)
endfunction()

# hafs_script_test(NAME LABEL ... COMMAND ... [TIMEOUT s]): a test that runs a script (bash),
# with the build's binary folder in HAFS_BIN_DIR.
function(hafs_script_test name)
  cmake_parse_arguments(A "" "LABEL;TIMEOUT" "COMMAND" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${A_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS ${A_LABEL} TIMEOUT ${A_TIMEOUT}
    ENVIRONMENT "HAFS_BIN_DIR=${CMAKE_BINARY_DIR}/bin;HAFS_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
endfunction()
