# Generates a C file holding the text of each schemas/*.avsc, in the order of
# enum events_type (common/events.h), and of every earlier version kept in
# schemas/previous/ (events_avsc_previous, NULL-terminated), so binaries need
# no schema files at run time. Invoked at build time:
# cmake -DSRC=<schemas dir> -DOUT=<file> -P this.
set(names SignupRequested OtpIssued SmsSent SmsDeadLetter SignupDeadLetter)
set(body "/* Generated from the files in schemas/ by cmake/embed_schemas.cmake. */\n")
string(APPEND body "#include \"events.h\"\n\nconst char *const events_avsc[EVENTS__COUNT] = {\n")
foreach(name ${names})
  file(READ "${SRC}/${name}.avsc" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  string(APPEND body "\t/* ${name} */\n\t\"${escaped}\",\n")
endforeach()
string(APPEND body "};\n\nconst char *const events_avsc_previous[] = {\n")
file(GLOB previous "${SRC}/previous/*.avsc")
list(SORT previous)
foreach(path ${previous})
  get_filename_component(file "${path}" NAME)
  file(READ "${path}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  string(APPEND body "\t/* previous/${file} */\n\t\"${escaped}\",\n")
endforeach()
string(APPEND body "\tNULL,\n};\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
