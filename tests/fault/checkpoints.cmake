# Fault tests of issue 13's classes 5, 8 and 9 (non-finite values, inputs
# read once, messages). Label `fault`; the library-unit part also `unit`
# so the sanitizer build of tools/test.sh runs it.
awq_add_test(checkpoints_finite SOURCES fault/checkpoints_finite.c LABELS fault unit TIMEOUT 120)
target_link_libraries(checkpoints_finite PRIVATE PkgConfig::AWQ_CJSON)
# Byte patcher for the CLI test: NaN / Inf into one element of a tensor.
add_executable(checkpoints_patch fault/checkpoints_patch.c)
target_include_directories(checkpoints_patch PRIVATE ${PROJECT_SOURCE_DIR}/lib)
target_compile_options(checkpoints_patch PRIVATE ${AWQ_WARNINGS})
target_link_libraries(checkpoints_patch PRIVATE awqkit)
foreach(t checkpoints_nonfinite checkpoints_fifo checkpoints_messages)
  awq_add_script_test(${t} SCRIPT fault/${t}.sh LABELS fault TIMEOUT 120)
  set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT
    "AWQ_PATCH=$<TARGET_FILE:checkpoints_patch>")
endforeach()
