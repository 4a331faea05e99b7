# Sources of lib/audit (`awqkit audit`: quantize under a grid, measure, report).
list(APPEND AWQ_LIB_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/audit.c
  ${CMAKE_CURRENT_LIST_DIR}/measure.c
  ${CMAKE_CURRENT_LIST_DIR}/report.c
  ${CMAKE_CURRENT_LIST_DIR}/svg.c
  ${CMAKE_CURRENT_LIST_DIR}/html.c
)
