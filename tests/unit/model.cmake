# Tests of lib/model.
awq_add_test(test_config SOURCES unit/test_config.c LABELS unit)
