# Tests of lib/model.
