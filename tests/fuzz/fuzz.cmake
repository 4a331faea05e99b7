# Fuzz targets: libFuzzer builds (AWQ_FUZZ=ON, clang) and corpus replay in ctest.
