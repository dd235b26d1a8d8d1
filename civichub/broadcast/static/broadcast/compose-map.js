// Compose page: a click on the area map fills the circle's centre (WGS-84) and shows it.
// Without this script the fields are typed in; the page works the same.
(function () {
  "use strict";
  var map = document.getElementById("area-map");
  if (!map) return;
  var lat = document.getElementById("circle_lat");
  var lon = document.getElementById("circle_lon");
  var radius = document.getElementById("circle_radius");
  var crs = document.getElementById("shape_crs");
  var d = map.dataset;
  var scale = parseFloat(d.scale), squash = parseFloat(d.squash), pad = parseFloat(d.pad);
  var minLon = parseFloat(d.minLon), maxLat = parseFloat(d.maxLat);
  map.addEventListener("click", function (event) {
    var point = map.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    var local = point.matrixTransform(map.getScreenCTM().inverse());
    var clickedLat = maxLat - (local.y - pad) / scale;
    var clickedLon = minLon + (local.x - pad) / (squash * scale);
    lat.value = clickedLat.toFixed(6);
    lon.value = clickedLon.toFixed(6);
    crs.value = "wgs84";
    if (!radius.value) radius.value = "500";
    var circle = document.getElementById("area-map-circle");
    if (!circle) {
      circle = document.createElementNS("http://www.w3.org/2000/svg", "circle");
      circle.setAttribute("id", "area-map-circle");
      circle.setAttribute("class", "drawn");
      map.appendChild(circle);
    }
    circle.setAttribute("cx", local.x.toFixed(1));
    circle.setAttribute("cy", local.y.toFixed(1));
    circle.setAttribute("r", (parseFloat(radius.value) / 110574 * scale).toFixed(1));
  });
})();
