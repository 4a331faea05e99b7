# Sources of lib/text, listed explicitly.
list(APPEND AWQ_LIB_SOURCES
)
