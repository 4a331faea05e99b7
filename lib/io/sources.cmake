# Sources of lib/io, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
)
