# Sources of lib/api: the JSON-result API, bundled-data lookup, Hub ids.
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/api.c
  ${CMAKE_CURRENT_LIST_DIR}/json.c
  ${CMAKE_CURRENT_LIST_DIR}/datadir.c
  ${CMAKE_CURRENT_LIST_DIR}/hub.c
)
