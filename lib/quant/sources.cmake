# Sources of lib/quant, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
)
