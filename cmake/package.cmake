# Debian packages with CPack, one per install component:
#   libpysandbox1     the shared library (SONAME libpysandbox.so.0), the helper, the presets
#   libpysandbox-dev  the header, the static library, pysandbox.pc, the CMake package
#   pysandbox         the command, its man pages, bash completion and systemd units
# `cpack -G DEB` in a build configured with -DCMAKE_INSTALL_PREFIX=/usr
# (scripts/check-deb.sh). Depends are computed from the shared libraries
# with dpkg-shlibdeps, plus the Python packages the helper preloads.
# Each package carries the license as Debian puts it: share/doc/PACKAGE/copyright.
foreach(pair "lib;libpysandbox1" "dev;libpysandbox-dev" "cli;pysandbox")
  list(GET pair 0 component)
  list(GET pair 1 package)
  install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/${package}
          RENAME copyright COMPONENT ${component})
endforeach()
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME pysandbox)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "pysandbox maintainers <pysandbox@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "run untrusted Python in kernel-confined child processes")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL lib dev cli)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/pysandbox")
set(CPACK_DEBIAN_LIB_PACKAGE_NAME libpysandbox1)
set(CPACK_DEBIAN_LIB_DESCRIPTION
    "run untrusted Python in kernel-confined child processes (library)\n libpysandbox runs Python code, often code a language model wrote, in a child\n forked from a warm helper and confined by namespaces, an unprivileged uid,\n rlimits, cgroups, Landlock and seccomp.")
# The helper preloads numpy, pandas and matplotlib (without them it starts
# without them); layer installs run Debian's pip.
set(CPACK_DEBIAN_LIB_PACKAGE_DEPENDS "python3.11, python3-numpy, python3-pandas, python3-matplotlib")
set(CPACK_DEBIAN_LIB_PACKAGE_RECOMMENDS "python3-pip")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME libpysandbox-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "run untrusted Python in kernel-confined child processes (development files)\n The header, the static library, pkg-config and CMake files of libpysandbox.")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libpysandbox1 (= ${PROJECT_VERSION}), libjansson-dev")
set(CPACK_DEBIAN_CLI_PACKAGE_NAME pysandbox)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_CLI_DESCRIPTION
    "run untrusted Python in kernel-confined child processes (command)\n pysandbox run, serve (JSON lines), mcp (Model Context Protocol), kernel\n (Jupyter), repl, layer and doctor; man pages, bash completion, systemd units.")
# The command links the library statically but runs its helper from libpysandbox1.
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "libpysandbox1 (= ${PROJECT_VERSION})")
include(CPack)
