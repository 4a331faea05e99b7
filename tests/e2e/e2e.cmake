# End-to-end CLI tests.
# inspect / count / size / synth, with a small cJSON checker for --json.
add_executable(awq_json_get e2e/json_get.c)
target_link_libraries(awq_json_get PRIVATE PkgConfig::AWQ_CJSON ${AWQ_LIBM})
foreach(t inspect_cli count_cli size_cli synth_cli)
  awq_add_script_test(${t} SCRIPT e2e/${t}.sh LABELS e2e)
  set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
endforeach()
awq_add_script_test(ppl_cli SCRIPT e2e/ppl_cli.sh LABELS e2e)
set_property(TEST ppl_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
awq_add_script_test(repack_cli SCRIPT e2e/repack_cli.sh LABELS e2e)
set_property(TEST repack_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
awq_add_script_test(ct_cli SCRIPT e2e/ct_cli.sh LABELS e2e)
set_property(TEST ct_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
# AWQ end to end: accuracy vs RTN, determinism, resume (library level) and
# the CLI with a real kill -9 / --resume.
awq_add_test(test_quantize SOURCES e2e/test_quantize.c LABELS e2e slow TIMEOUT 900)
awq_add_script_test(quantize_cli SCRIPT e2e/quantize_cli.sh LABELS e2e slow TIMEOUT 900)
awq_add_test(test_quantize_synth SOURCES e2e/test_quantize_synth.c e2e/e2e_quant.c LABELS e2e TIMEOUT 600)
awq_add_test(test_quantize_archs SOURCES e2e/test_quantize_archs.c e2e/e2e_quant.c LABELS e2e TIMEOUT 600)
awq_add_test(test_quantize_mla SOURCES e2e/test_quantize_mla.c e2e/e2e_quant.c LABELS e2e TIMEOUT 600)
awq_add_test(test_quantize_moe SOURCES e2e/test_quantize_moe.c e2e/e2e_quant.c LABELS e2e TIMEOUT 600)
awq_add_script_test(tokenize_cli SCRIPT e2e/tokenize_cli.sh LABELS e2e)
set_property(TEST tokenize_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
# awqkit audit: the default grid on the bundled model, and report.html as
# headless Chromium renders it (skipped when chromium is not installed; the
# screenshot stays in the test's scratch directory).
add_executable(awq_png_stats e2e/png_stats.c)
target_compile_options(awq_png_stats PRIVATE ${AWQ_WARNINGS})
awq_add_script_test(audit_cli SCRIPT e2e/audit_cli.sh LABELS e2e slow TIMEOUT 900)
set_property(TEST audit_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
# The acceptance run at full fidelity: ~16 min on 2 cores, so only with
# -DAWQ_LONG_TESTS=ON (then `ctest -L long`).
if(AWQ_LONG_TESTS)
  awq_add_script_test(audit_full SCRIPT e2e/audit_full.sh LABELS e2e long TIMEOUT 5400)
  set_property(TEST audit_full APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
endif()
awq_add_script_test(audit_render SCRIPT e2e/audit_render.sh LABELS e2e TIMEOUT 600)
set_property(TEST audit_render APPEND PROPERTY ENVIRONMENT
  "AWQ_JSON=$<TARGET_FILE:awq_json_get>;AWQ_PNG_STATS=$<TARGET_FILE:awq_png_stats>")
# Format / consumer tables and ambiguous checkpoints through the CLI.
awq_add_script_test(formats_cli SCRIPT e2e/formats_cli.sh LABELS e2e fault)
set_property(TEST formats_cli APPEND PROPERTY ENVIRONMENT "AWQ_JSON=$<TARGET_FILE:awq_json_get>")
awq_add_test(test_quantize_fp8 SOURCES e2e/test_quantize_fp8.c LABELS e2e TIMEOUT 300)
