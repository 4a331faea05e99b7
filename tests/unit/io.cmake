# Tests of lib/io.
