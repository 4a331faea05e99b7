# Tests of lib/quant.
awq_add_test(test_quantizer SOURCES unit/test_quantizer.c LABELS unit)
awq_add_test(test_pack SOURCES unit/test_pack.c LABELS unit)
awq_add_test(test_repack SOURCES unit/test_repack.c LABELS e2e)
awq_add_test(test_awq_search SOURCES unit/test_awq_search.c LABELS unit)
awq_add_test(test_awq_gram SOURCES unit/test_awq_gram.c LABELS unit)
awq_add_test(test_formats SOURCES unit/test_formats.c LABELS unit fault)
awq_add_test(test_ct SOURCES unit/test_ct.c LABELS e2e)
awq_add_test(test_outfiles SOURCES unit/test_outfiles.c LABELS unit)
