# libawqkit.so: the static library's objects (compiled position-independent,
# as CUDA builds already do) linked whole into a shared library, so the
# sources compile once. Versioned SONAME; only awq_* symbols are exported
# (version script), so the bundled helpers of other names stay private.
option(AWQ_BUILD_SHARED "Build the shared library libawqkit.so" ON)
if(AWQ_BUILD_SHARED)
  set_target_properties(awqkit PROPERTIES POSITION_INDEPENDENT_CODE ON)
  # add_library needs one source; this unit defines nothing.
  file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/awqkit_so.c
       CONTENT "/* libawqkit.so = libawqkit.a linked whole (cmake/shared.cmake) */\ntypedef int awq_so_unit;\n")
  add_library(awqkit_shared SHARED ${CMAKE_BINARY_DIR}/awqkit_so.c)
  # 0.x: a minor release may change the ABI, so the SONAME carries it.
  if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(AWQ_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
  else()
    set(AWQ_SOVERSION ${PROJECT_VERSION_MAJOR})
  endif()
  set(AWQ_VERSION_SCRIPT ${PROJECT_SOURCE_DIR}/cmake/awqkit.map)
  set_target_properties(awqkit_shared PROPERTIES
    OUTPUT_NAME awqkit EXPORT_NAME awqkit
    VERSION ${PROJECT_VERSION} SOVERSION ${AWQ_SOVERSION}
    LINK_DEPENDS ${AWQ_VERSION_SCRIPT})
  target_include_directories(awqkit_shared PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>)
  target_link_libraries(awqkit_shared PRIVATE
    -Wl,--whole-archive awqkit -Wl,--no-whole-archive ${CMAKE_DL_LIBS})
  target_link_options(awqkit_shared PRIVATE "LINKER:--version-script=${AWQ_VERSION_SCRIPT}")
  if(NOT AWQ_SANITIZE)
    target_link_options(awqkit_shared PRIVATE "LINKER:--no-undefined")
  endif()
endif()
