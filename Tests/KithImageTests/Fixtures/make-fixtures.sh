#!/usr/bin/env bash
# Remakes the fixtures here (README.md): pixels by make-fixtures.c through
# libjpeg-turbo, libpng and libwebp, then metadata written by exiftool.
set -euo pipefail
cd "$(dirname "$0")"
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
cc make-fixtures.c -o "$build/make-fixtures" -ljpeg -lpng16 -lwebp
"$build/make-fixtures"
gps=(-GPSLatitude=48.858370 -GPSLatitudeRef=N -GPSLongitude=2.294481 -GPSLongitudeRef=E)
xmp=(-XMP:GPSLatitude="48.858370 N" -XMP:GPSLongitude="2.294481 E")
exiftool -q -overwrite_original -Make=Google -Model="Pixel 7" -Orientation#=6 -DateTimeOriginal="2026:07:14 10:21:33" \
  -SerialNumber=28131JEGR09431 "${gps[@]}" -GPSAltitude=35 "${xmp[@]}" -XMP:CreatorTool="Camera 9.1" \
  -IPTC:City=Paris -Comment="family picnic at home" phone.jpg
exiftool -q -overwrite_original -EXIF:Make=Google -EXIF:Model="Pixel 7" "${gps[@]/#-/-EXIF:}" "${xmp[@]}" \
  -PNG:Comment="family picnic at home" -PNG:Author=Grandma -PNG:ModifyDate="2026:07:14 10:21:33" photo.png
exiftool -q -overwrite_original -EXIF:Make=Google -EXIF:Model="Pixel 7" "${gps[@]/#-/-EXIF:}" "${xmp[@]}" photo.webp
