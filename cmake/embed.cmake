# Turns every SRC_DIR/*.EXT into a C byte array (NUL-terminated) in one
# generated header OUT, with a table PREFIX_sources[] = {name, bytes}, so a
# binary carries its Python support code (pyshim/) or its presets
# (policy/presets/) inside.
#   cmake -DOUT=... -DSRC_DIR=... -DEXT=py -DPREFIX=psb_pyshim -P embed.cmake
file(GLOB sources "${SRC_DIR}/*.${EXT}")
list(SORT sources)
string(TOUPPER "${PREFIX}" guard)
set(content "/* Generated from the .${EXT} files of ${SRC_DIR} at build time. Do not edit. */\n")
string(APPEND content "#ifndef ${guard}_SOURCES_H\n#define ${guard}_SOURCES_H\n\n")
set(table "")
foreach(src ${sources})
  get_filename_component(name ${src} NAME_WE)
  string(MAKE_C_IDENTIFIER "${name}" ident)
  file(READ ${src} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " hex "${hex}")
  string(APPEND content "static const unsigned char ${PREFIX}_${ident}[] = {\n    ${hex}0x00};\n\n")
  string(APPEND table "    {\"${name}\", ${PREFIX}_${ident}},\n")
endforeach()
string(APPEND content "static const struct {\n    const char *name;\n    const unsigned char *source;\n}")
string(APPEND content " ${PREFIX}_sources[] = {\n${table}    {0, 0},\n};\n\n#endif\n")
file(WRITE ${OUT} "${content}")
