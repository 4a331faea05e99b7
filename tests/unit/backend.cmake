# Tests of lib/backend.
