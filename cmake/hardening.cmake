# Hardening of every program the project builds (keepd, keepctl, the tests),
# included by the top CMakeLists.txt before any target is declared. The test
# hardening (tests/hardening_test.sh) reads keepd's and keepctl's ELF headers,
# program headers, dynamic section and notes to check each property.
#
#  * PIE: executables are position independent, so ASLR moves their code too.
#  * Full RELRO: the GOT and the other relocated data are read-only once the
#    dynamic linker has resolved every symbol at start (-z now), so a write
#    through a stray pointer cannot redirect a library call.
#  * A stack that is not executable (-z noexecstack), whatever an object
#    file's note says.
#  * -fstack-protector-strong: a canary in every function with a local array
#    or whose locals' addresses escape, checked before it returns.
#  * -fstack-clash-protection: a big stack allocation touches each page, so
#    it cannot jump over the guard page into another mapping.
#  * -fcf-protection=full (x86): landing pads for indirect branches (IBT) and
#    code that a shadow stack (SHSTK) allows. The program is marked for both
#    only when every object linked carries the marks, the C library's start
#    files included; Debian 12's glibc is built without them, so there the
#    code has the landing pads but the program carries no mark (the test
#    tells the two cases apart).
#  * _FORTIFY_SOURCE=3: calls such as memcpy and snprintf into an object of a
#    size the compiler knows go through glibc's checked variants (__*_chk),
#    which abort on an overflow. It needs optimisation (glibc warns without
#    it, and -Werror makes that an error), so a Debug build goes without;
#    and sanitizers check these calls themselves (the checked variants hide
#    them from ASan), so a sanitized or fuzz build goes without too.
#
# Flags the compiler does not know (clang for the fuzz build, or a target
# without CET) are left out, with a message.
include(CheckCXXCompilerFlag)
include(CheckPIESupported)

set(CMAKE_POSITION_INDEPENDENT_CODE ON)
check_pie_supported(OUTPUT_VARIABLE keep_pie_output LANGUAGES CXX)
if(NOT CMAKE_CXX_LINK_PIE_SUPPORTED)
  message(WARNING "Hardening: the linker cannot make position-independent executables: "
                  "${keep_pie_output}")
endif()

foreach(flag -fstack-protector-strong -fstack-clash-protection -fcf-protection=full)
  string(MAKE_C_IDENTIFIER "KEEP_CXX_HAS${flag}" have)
  check_cxx_compiler_flag(${flag} ${have})
  if(${have})
    add_compile_options(${flag})
  else()
    message(STATUS "Hardening: ${CMAKE_CXX_COMPILER_ID} does not accept ${flag}: left out")
  endif()
endforeach()

add_link_options(LINKER:-z,relro LINKER:-z,now LINKER:-z,noexecstack)

# Whether this build fortifies (a generator expression, as it depends on the
# configuration); tests/CMakeLists.txt tells the test when it does not.
if(KEEP_SANITIZE OR KEEP_FUZZ)
  set(KEEP_FORTIFY 0)
else()
  set(KEEP_FORTIFY "$<NOT:$<CONFIG:Debug>>")
endif()
# Undefined first: a compiler may define another level by default.
add_compile_options(-U_FORTIFY_SOURCE "$<${KEEP_FORTIFY}:-D_FORTIFY_SOURCE=3>")
