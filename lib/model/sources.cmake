# Sources of lib/model, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
)
