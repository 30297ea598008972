# Unity builds (the top CMakeLists.txt includes this).
#
# keep_unity_build(TARGET): TARGET's files compiled eight to a translation
# unit (a unity build): they parse the same headers and instantiate much the
# same templates, so together they take half the time. Seen from a unity
# file, a source's anonymous namespace looks like a header's to GCC's
# -Wsubobject-linkage: off for them. tests/check_format.sh runs clang-tidy on
# each source with its unity file's command.
function(keep_unity_build target)
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
endfunction()
