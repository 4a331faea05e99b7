# Tests of lib/text.
awq_add_test(test_tokenizer_vectors SOURCES unit/test_tokenizer_vectors.c LABELS unit)
awq_add_test(test_tokenizer_ref SOURCES unit/test_tokenizer_ref.c LABELS unit)
awq_add_test(test_calib SOURCES unit/test_calib.c LABELS unit)
awq_add_test(test_tokenizer_api SOURCES unit/test_tokenizer_api.c LABELS unit)
