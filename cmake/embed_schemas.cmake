# Generates a C file holding the text of each schemas/*.avsc, in the order of
# enum events_type (common/events.h), so binaries need no schema files at run
# time. Invoked at build time: cmake -DSRC=<schemas dir> -DOUT=<file> -P this.
set(names SignupRequested OtpIssued SmsSent SmsDeadLetter SignupDeadLetter)
set(body "/* Generated from the files in schemas/ by cmake/embed_schemas.cmake. */\n")
string(APPEND body "#include \"events.h\"\n\nconst char *const events_avsc[EVENTS__COUNT] = {\n")
foreach(name ${names})
  file(READ "${SRC}/${name}.avsc" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  string(APPEND body "\t/* ${name} */\n\t\"${escaped}\",\n")
endforeach()
string(APPEND body "};\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
