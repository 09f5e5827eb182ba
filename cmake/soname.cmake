# cr_soname(VAR LIBRARY_PATHS): the soname (libfoo.so.N) of the first shared
# library among LIBRARY_PATHS (a pkg-config module's _LINK_LIBRARIES), read
# from its dynamic section; for libraries the code loads on first use
# (src/core/lazy_lib.h), by the name the dynamic linker would use.
function(cr_soname var paths)
  foreach(path IN LISTS paths)
    if(path MATCHES "\\.so(\\.|$)")
      execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${path} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
      if(rc EQUAL 0 AND dynamic MATCHES "SONAME +([^ \n]+)")
        set(${var} ${CMAKE_MATCH_1} PARENT_SCOPE)
        return()
      endif()
    endif()
  endforeach()
  message(FATAL_ERROR "no soname found in '${paths}'")
endfunction()
