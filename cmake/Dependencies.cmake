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
    foreach(candidate /opt/qkd/openssl $ENV{HOME}/.cache/qkd/openssl)
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
    "into /opt/qkd/openssl, or pass -DOPENSSL_ROOT_DIR=<prefix>.")
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
