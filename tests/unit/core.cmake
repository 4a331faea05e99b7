awq_add_test(test_core SOURCES unit/test_core.c LABELS unit)
