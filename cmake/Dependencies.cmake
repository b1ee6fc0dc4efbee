# Finds OpenSSL >= 3.5 (system, or the prefix scripts/bootstrap-deps.sh builds), cJSON,
# libuuid and CMocka. Stops with a clear message when something is missing or too old.
# Read the version from a prefix's opensslv.h without creating imported targets (a first
# find_package(OpenSSL) would pin the OpenSSL:: targets to the system's headers).
function(qkd_openssl_header_version incdir outvar)
  set(${outvar} "" PARENT_SCOPE)
  if(EXISTS ${incdir}/openssl/opensslv.h)
    file(STRINGS ${incdir}/openssl/opensslv.h _maj REGEX "^# *define +OPENSSL_VERSION_MAJOR +[0-9]+")
    file(STRINGS ${incdir}/openssl/opensslv.h _min REGEX "^# *define +OPENSSL_VERSION_MINOR +[0-9]+")
    string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _maj "${_maj}")
    string(REGEX REPLACE ".* ([0-9]+)$" "\\1" _min "${_min}")
    if(_maj MATCHES "^[0-9]+$" AND _min MATCHES "^[0-9]+$")
      set(${outvar} "${_maj}.${_min}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

if(NOT OPENSSL_ROOT_DIR AND NOT DEFINED ENV{OPENSSL_ROOT_DIR})
  find_path(QKD_SYSTEM_OPENSSL_INCLUDE openssl/opensslv.h)
  set(_sysver "")
  if(QKD_SYSTEM_OPENSSL_INCLUDE)
    qkd_openssl_header_version(${QKD_SYSTEM_OPENSSL_INCLUDE} _sysver)
  endif()
  if(NOT _sysver OR _sysver VERSION_LESS 3.5)
    set(_roots /opt/qkd/openssl $ENV{HOME}/.cache/qkd/openssl)
    if(DEFINED ENV{QKD_DEPS_ROOT})
      list(PREPEND _roots $ENV{QKD_DEPS_ROOT}/openssl)
    endif()
    foreach(candidate ${_roots})
      qkd_openssl_header_version(${candidate}/include _candver)
      if(_candver AND NOT _candver VERSION_LESS 3.5)
        set(OPENSSL_ROOT_DIR ${candidate} CACHE PATH "OpenSSL 3.5 prefix" FORCE)
        break()
      endif()
    endforeach()
  endif()
endif()
find_package(OpenSSL REQUIRED)
if(OPENSSL_VERSION VERSION_LESS 3.5)
  message(FATAL_ERROR
    "OpenSSL ${OPENSSL_VERSION} found at ${OPENSSL_INCLUDE_DIR}, but 3.5 or newer is required "
    "(X25519MLKEM768, ML-KEM, ML-DSA). Run scripts/bootstrap-deps.sh, which builds OpenSSL 3.5 "
    "into /opt/qkd/openssl ($QKD_DEPS_ROOT/openssl), or pass -DOPENSSL_ROOT_DIR=<prefix>.")
endif()
message(STATUS "OpenSSL ${OPENSSL_VERSION}: ${OPENSSL_SSL_LIBRARY}")
get_filename_component(QKD_OPENSSL_LIBDIR ${OPENSSL_CRYPTO_LIBRARY} DIRECTORY)
# Programs find a non-system OpenSSL without LD_LIBRARY_PATH.
if(NOT QKD_OPENSSL_LIBDIR MATCHES "^/usr/lib")
  set(CMAKE_BUILD_RPATH ${QKD_OPENSSL_LIBDIR})
  set(CMAKE_INSTALL_RPATH "${QKD_OPENSSL_LIBDIR};${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}")
else()
  set(CMAKE_INSTALL_RPATH "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}")
endif()

find_package(PkgConfig REQUIRED)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(UUID REQUIRED IMPORTED_TARGET uuid)
if(QKD_BUILD_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
find_package(Threads REQUIRED)

# The openssl command-line tool matching the library (certificate generation in tests).
if(OPENSSL_ROOT_DIR)
  find_program(QKD_OPENSSL_BIN openssl HINTS ${OPENSSL_ROOT_DIR}/bin NO_DEFAULT_PATH)
endif()
find_program(QKD_OPENSSL_BIN openssl REQUIRED)

# --- Optional post-quantum KEM libraries (docs/hybrid.md "Key sources") ------------------------
# Debian 13's libmceliece (Classic McEliece) and libntruprime (sntrup761), with librandombytes
# under them: the system's (trixie packages), or the prefix scripts/bootstrap-deps.sh makes on
# older hosts ($QKD_DEPS_ROOT/pqkem, default /opt/qkd/pqkem). Without them the build works and
# qkd-hybrid refuses those sources at request time ("source X not built in").
option(QKD_WITH_PQKEM "Use libmceliece / libntruprime when found" ON)
add_library(qkd_pqkem INTERFACE)
if(QKD_WITH_PQKEM)
  set(_pqkem_roots /opt/qkd/pqkem $ENV{HOME}/.cache/qkd/pqkem)
  if(DEFINED ENV{QKD_DEPS_ROOT})
    list(PREPEND _pqkem_roots $ENV{QKD_DEPS_ROOT}/pqkem)
  endif()
  find_library(QKD_RANDOMBYTES_LIB NAMES randombytes-kernel randombytes HINTS ${_pqkem_roots}
               PATH_SUFFIXES lib)
  find_path(QKD_MCELIECE_INCLUDE mceliece.h HINTS ${_pqkem_roots} PATH_SUFFIXES include)
  find_library(QKD_MCELIECE_LIB mceliece HINTS ${_pqkem_roots} PATH_SUFFIXES lib)
  find_path(QKD_NTRUPRIME_INCLUDE ntruprime.h HINTS ${_pqkem_roots} PATH_SUFFIXES include)
  find_library(QKD_NTRUPRIME_LIB ntruprime HINTS ${_pqkem_roots} PATH_SUFFIXES lib)
  set(_pqkem_libdirs "")
  foreach(_k MCELIECE NTRUPRIME)
    if(QKD_${_k}_INCLUDE AND QKD_${_k}_LIB AND QKD_RANDOMBYTES_LIB)
      target_compile_definitions(qkd_pqkem INTERFACE QKD_HAVE_${_k}=1)
      target_include_directories(qkd_pqkem INTERFACE ${QKD_${_k}_INCLUDE})
      target_link_libraries(qkd_pqkem INTERFACE ${QKD_${_k}_LIB})
      get_filename_component(_d ${QKD_${_k}_LIB} DIRECTORY)
      list(APPEND _pqkem_libdirs ${_d})
      message(STATUS "${_k}: ${QKD_${_k}_LIB}")
    else()
      message(STATUS "${_k}: not found; its key sources are not built in")
    endif()
  endforeach()
  if(_pqkem_libdirs)
    # librandombytes directly too: a prefix's libmceliece has no rpath of its own, and the
    # loader then finds its librandombytes already loaded through ours.
    target_link_libraries(qkd_pqkem INTERFACE "-Wl,--push-state,--no-as-needed"
                                              ${QKD_RANDOMBYTES_LIB} "-Wl,--pop-state")
    list(REMOVE_DUPLICATES _pqkem_libdirs)
    foreach(_d ${_pqkem_libdirs})
      if(NOT _d MATCHES "^/usr/lib")
        list(APPEND CMAKE_BUILD_RPATH ${_d})
        list(APPEND CMAKE_INSTALL_RPATH ${_d})
      endif()
    endforeach()
  endif()
endif()

# llhttp (HTTP/1.1 parsing, src/common/http.c): the system's libllhttp-dev (Debian 13), else the
# prefix scripts/bootstrap-deps.sh unpacks from trixie's binary packages on Debian 12
# ($QKD_DEPS_ROOT/llhttp, /opt/qkd/llhttp); programs find that prefix by rpath, like OpenSSL.
set(_llhttp_roots)
if(DEFINED ENV{QKD_DEPS_ROOT})
  list(APPEND _llhttp_roots $ENV{QKD_DEPS_ROOT}/llhttp)
endif()
list(APPEND _llhttp_roots /opt/qkd/llhttp $ENV{HOME}/.cache/qkd/llhttp)
find_path(QKD_LLHTTP_INCLUDE llhttp.h)
find_library(QKD_LLHTTP_LIBRARY llhttp)
if(NOT QKD_LLHTTP_INCLUDE OR NOT QKD_LLHTTP_LIBRARY)
  unset(QKD_LLHTTP_INCLUDE CACHE)
  unset(QKD_LLHTTP_LIBRARY CACHE)
  find_path(QKD_LLHTTP_INCLUDE llhttp.h PATHS ${_llhttp_roots} PATH_SUFFIXES include NO_DEFAULT_PATH)
  find_library(QKD_LLHTTP_LIBRARY llhttp PATHS ${_llhttp_roots} PATH_SUFFIXES lib NO_DEFAULT_PATH)
endif()
if(NOT QKD_LLHTTP_INCLUDE OR NOT QKD_LLHTTP_LIBRARY)
  message(FATAL_ERROR "llhttp not found: install libllhttp-dev (Debian 13) or run "
    "scripts/bootstrap-deps.sh, which unpacks Debian 13's llhttp into $QKD_DEPS_ROOT/llhttp.")
endif()
add_library(qkd_llhttp UNKNOWN IMPORTED)
set_target_properties(qkd_llhttp PROPERTIES IMPORTED_LOCATION ${QKD_LLHTTP_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${QKD_LLHTTP_INCLUDE})
message(STATUS "llhttp: ${QKD_LLHTTP_LIBRARY}")
get_filename_component(QKD_LLHTTP_LIBDIR ${QKD_LLHTTP_LIBRARY} DIRECTORY)
if(NOT QKD_LLHTTP_LIBDIR MATCHES "^/usr/lib")
  list(APPEND CMAKE_BUILD_RPATH ${QKD_LLHTTP_LIBDIR})
  list(APPEND CMAKE_INSTALL_RPATH ${QKD_LLHTTP_LIBDIR})
endif()
