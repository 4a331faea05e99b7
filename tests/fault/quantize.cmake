# Fault tests of `awqkit quantize` (issue 13): preflight refusals that write
# nothing, signals and kill -9 at every phase followed by --resume with
# identical bytes, one writer per output, a full disk, a failed final
# verification, the resume fingerprint. Small synthetic models; all of it
# runs in well under a minute on 2 cores.
add_executable(quantize_poke fault/quantize_poke.c)
target_compile_options(quantize_poke PRIVATE ${AWQ_WARNINGS})
target_link_libraries(quantize_poke PRIVATE awqkit)
foreach(t preflight signals kill lock diskfull fingerprint)
  awq_add_script_test(quantize_fault_${t} SCRIPT fault/quantize_${t}.sh LABELS fault TIMEOUT 120)
  set_property(TEST quantize_fault_${t} APPEND PROPERTY ENVIRONMENT
    "AWQ_POKE=$<TARGET_FILE:quantize_poke>")
endforeach()
awq_add_test(quantize_fault_verify SOURCES fault/quantize_verify.c LABELS fault TIMEOUT 120)
