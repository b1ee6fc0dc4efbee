# tests/unit/common_rt.cmake: unit tests of the basic qkdrt runtime (log, secbuf, opts, evloop,
# window).
foreach(t log secbuf opts evloop window)
  qkd_unit_test(test_${t} SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_${t}.c LIBS qkdrt)
endforeach()
