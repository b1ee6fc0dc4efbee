# Finds OpenSSL >= 3.5 (system, or the prefix scripts/bootstrap-deps.sh builds), cJSON,
# libuuid and CMocka. Stops with a clear message when something is missing or too old.
if(NOT OPENSSL_ROOT_DIR AND NOT DEFINED ENV{OPENSSL_ROOT_DIR})
  # The system one first if it is new enough, else the bootstrap prefix.
  find_package(OpenSSL QUIET)
  if(NOT OPENSSL_FOUND OR OPENSSL_VERSION VERSION_LESS 3.5)
    foreach(candidate /opt/qkd/openssl $ENV{HOME}/.cache/qkd/openssl)
      if(EXISTS ${candidate}/include/openssl/ssl.h)
        unset(OPENSSL_FOUND CACHE)
        unset(OPENSSL_INCLUDE_DIR CACHE)
        unset(OPENSSL_SSL_LIBRARY CACHE)
        unset(OPENSSL_CRYPTO_LIBRARY CACHE)
        unset(OPENSSL_VERSION CACHE)
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
