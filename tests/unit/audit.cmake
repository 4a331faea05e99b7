# Tests of lib/audit.
awq_add_test(test_audit SOURCES unit/test_audit.c LABELS unit)
target_link_libraries(test_audit PRIVATE PkgConfig::AWQ_CJSON)
awq_add_test(test_audit_run SOURCES unit/test_audit_run.c LABELS e2e)
target_link_libraries(test_audit_run PRIVATE PkgConfig::AWQ_CJSON)
