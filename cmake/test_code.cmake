# How the tests' own code is compiled (tests/CMakeLists.txt includes this).
# It is built for a quick build, not for speed: keepd, keepctl and the
# libraries the tests link keep the build type's flags, and the test code
# around them is compiled at -Og (optimised enough for _FORTIFY_SOURCE, and
# easy to debug) with a precompiled header of what each of its files parses
# anyway: GoogleTest, nlohmann's JSON and, for the suites that talk to a
# keepd, the test HTTPS client with Beast and Asio. At -O2 -g a test file
# took 13 s to compile, most of it generating optimised code for the
# assertions' expansions; this way about 5 s.
#
#   keep_test_code(TARGET [HEADER...])
function(keep_test_code target)
  target_compile_options(${target} PRIVATE -Og)
  if(ARGN)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()

# The headers of a suite that talks to a keepd.
set(KEEP_TEST_CLIENT_HEADERS <gtest/gtest.h> <nlohmann/json.hpp>
    ${CMAKE_SOURCE_DIR}/tests/support/https_client.h)
