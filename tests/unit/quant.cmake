# Tests of lib/quant.
