# Tests of lib/model.
awq_add_test(test_config SOURCES unit/test_config.c LABELS unit fault)
awq_add_test(test_count SOURCES unit/test_count.c LABELS unit)
awq_add_test(test_size SOURCES unit/test_size.c LABELS unit)
awq_add_test(test_synth SOURCES unit/test_synth.c LABELS unit)
awq_add_test(test_load_fixtures SOURCES unit/test_load_fixtures.c LABELS unit)
awq_add_test(test_moe_lset SOURCES unit/test_moe_lset.c LABELS unit)
