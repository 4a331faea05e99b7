# Man pages (awqkit(1), awqkit-COMMAND(1)) and bash completion, generated at
# build time from the program's own --help (tools/docs/), so they always
# match it; installed by `cmake --install` (component doc).
option(AWQ_BUILD_DOCS "Generate man pages and bash completion from --help" ON)
if(AWQ_BUILD_TOOLS AND AWQ_BUILD_DOCS)
  file(STRINGS ${PROJECT_SOURCE_DIR}/tools/commands.h AWQ_CMD_LINES REGEX "^AWQ_CMD\\(")
  set(AWQ_MAN_PAGES ${CMAKE_BINARY_DIR}/man/awqkit.1)
  foreach(line ${AWQ_CMD_LINES})
    string(REGEX REPLACE "^AWQ_CMD\\(([a-z0-9_]+),.*" "\\1" cmd "${line}")
    list(APPEND AWQ_MAN_PAGES ${CMAKE_BINARY_DIR}/man/awqkit-${cmd}.1)
  endforeach()
  set(AWQ_COMPLETION ${CMAKE_BINARY_DIR}/completion/awqkit)
  set(AWQ_DOCS_DIR ${PROJECT_SOURCE_DIR}/tools/docs)
  # A sanitizer build's program must not fail the build over a leak report.
  add_custom_command(OUTPUT ${AWQ_MAN_PAGES} ${AWQ_COMPLETION}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/completion
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
            bash ${AWQ_DOCS_DIR}/gen_man.sh $<TARGET_FILE:awqkit_cli> ${CMAKE_BINARY_DIR}/man
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
            bash ${AWQ_DOCS_DIR}/gen_completion.sh $<TARGET_FILE:awqkit_cli> ${AWQ_COMPLETION}
    DEPENDS awqkit_cli ${AWQ_DOCS_DIR}/gen_man.sh ${AWQ_DOCS_DIR}/help2roff.awk
            ${AWQ_DOCS_DIR}/gen_completion.sh
    COMMENT "man pages and bash completion from awqkit --help"
    VERBATIM)
  add_custom_target(awqkit_docs ALL DEPENDS ${AWQ_MAN_PAGES} ${AWQ_COMPLETION})
  install(FILES ${AWQ_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT doc)
  install(FILES ${AWQ_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
          COMPONENT doc)
endif()
