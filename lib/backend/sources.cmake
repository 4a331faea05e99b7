# Sources of lib/backend, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
)
