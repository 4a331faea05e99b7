# Tests of lib/io.
awq_add_test(test_safetensors SOURCES unit/test_safetensors.c LABELS unit)
awq_add_test(test_checkpoint SOURCES unit/test_checkpoint.c LABELS unit)
awq_add_test(test_writer SOURCES unit/test_writer.c LABELS unit)
awq_add_test(test_fp8src SOURCES unit/test_fp8src.c LABELS unit)
