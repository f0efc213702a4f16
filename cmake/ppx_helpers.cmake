# Shared warning flags for every first-party target.
function(ppx_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wno-missing-field-initializers)
endfunction()

# ppx_library(NAME <name> ALIAS <ppx::alias> SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# A static library with include/ as its public face, exported for find_package(ppx).
function(ppx_library)
  cmake_parse_arguments(A "" "NAME;ALIAS;EXPORT_NAME" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(${A_NAME} STATIC ${A_SOURCES})
  add_library(${A_ALIAS} ALIAS ${A_NAME})
  if(A_EXPORT_NAME)
    set_target_properties(${A_NAME} PROPERTIES EXPORT_NAME ${A_EXPORT_NAME})
  endif()
  target_include_directories(${A_NAME} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${A_NAME} PUBLIC ${A_PUBLIC_LIBS} PRIVATE ${A_PRIVATE_LIBS})
  # Our public headers use C++20: a usage requirement, so downstream targets get it without asking.
  target_compile_features(${A_NAME} PUBLIC cxx_std_20)
  ppx_warnings(${A_NAME})
endfunction()

# ppx_executable(NAME <name> SOURCES ... LIBS ...): a program in build/bin.
function(ppx_executable)
  cmake_parse_arguments(A "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS})
  ppx_warnings(${A_NAME})
endfunction()

# ppx_test(NAME <name> SOURCES ... LIBS ... [LABELS ...]): a Catch2 test executable run by CTest.
# Tests get PPX_SHARED_DIR (test data kept outside the repository) and build/bin through environment variables.
function(ppx_test)
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ppx_catch_main ${A_LIBS})
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  ppx_warnings(${A_NAME})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 600)
  endif()
  add_test(NAME ${A_NAME} COMMAND ${A_NAME})
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS}"
    ENVIRONMENT "PPX_SHARED_DIR=${PPX_SHARED_DIR};PPX_BIN_DIR=${PROJECT_BINARY_DIR}/bin")
endfunction()
