/* Maps on civichub's pages (Leaflet, vendored under static/vendor/leaflet).
 *
 * A page describes each map with data attributes (core.maps.map_attributes): the tiles, their
 * coordinate system, the marker images, the controls' words, the communities' areas (GeoJSON)
 * and, for "show" maps, the id of a JSON block of points. "pick" maps put one draggable pin
 * into hidden latitude/longitude/crs fields; without this script those fields stay empty and
 * the form is sent with its address. A "pick" map may instead serve boxes people type into
 * (data-typed): the pin fills them and follows what is typed, and without this script the
 * boxes are the form. No inline script or style, so the CSP stays strict.
 */
(function () {
  "use strict";
  if (typeof L === "undefined") {
    return;
  }

  // WGS-84 → GCJ-02, the public forward transform (the same as core.geo.wgs84_to_gcj02), for
  // a phone's GPS position on a map drawn in GCJ-02.
  var A = 6378245.0;
  var EE = 0.00669342162296594323;
  function outsideChina(lat, lng) {
    return !(lng > 73.66 && lng < 135.05 && lat > 3.86 && lat < 53.55);
  }
  function toGcj02(lat, lng) {
    if (outsideChina(lat, lng)) {
      return [lat, lng];
    }
    var x = lng - 105.0;
    var y = lat - 35.0;
    var PI = Math.PI;
    var dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    dlat += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dlat += (20.0 * Math.sin(y * PI) + 40.0 * Math.sin(y / 3.0 * PI)) * 2.0 / 3.0;
    dlat += (160.0 * Math.sin(y / 12.0 * PI) + 320 * Math.sin(y * PI / 30.0)) * 2.0 / 3.0;
    var dlng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    dlng += (20.0 * Math.sin(6.0 * x * PI) + 20.0 * Math.sin(2.0 * x * PI)) * 2.0 / 3.0;
    dlng += (20.0 * Math.sin(x * PI) + 40.0 * Math.sin(x / 3.0 * PI)) * 2.0 / 3.0;
    dlng += (150.0 * Math.sin(x / 12.0 * PI) + 300.0 * Math.sin(x / 30.0 * PI)) * 2.0 / 3.0;
    var rad = lat / 180.0 * PI;
    var magic = 1 - EE * Math.sin(rad) * Math.sin(rad);
    var sqrtMagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtMagic) * PI);
    dlng = (dlng * 180.0) / (A / sqrtMagic * Math.cos(rad) * PI);
    return [lat + dlat, lng + dlng];
  }

  // GCJ-02 → WGS-84 by inverting the forward transform (a few steps reach millimetres), to show
  // coordinates typed in one system on a map drawn in the other.
  function fromGcj02(lat, lng) {
    var wgs = [lat, lng];
    for (var i = 0; i < 4; i += 1) {
      var there = toGcj02(wgs[0], wgs[1]);
      wgs = [wgs[0] + lat - there[0], wgs[1] + lng - there[1]];
    }
    return wgs;
  }
  function between(lat, lng, from, to) {
    if (!from || from === to) {
      return [lat, lng];
    }
    return to === "gcj02" ? toGcj02(lat, lng) : fromGcj02(lat, lng);
  }

  function markerIcon(el) {
    return L.icon({
      iconUrl: el.dataset.icon,
      iconRetinaUrl: el.dataset.icon2x,
      shadowUrl: el.dataset.shadow,
      iconSize: [25, 41],
      iconAnchor: [12, 41],
      popupAnchor: [1, -34],
      tooltipAnchor: [16, -28],
      shadowSize: [41, 41]
    });
  }

  // A marker drawn as the point's own SVG path (a 24 × 24 box), so that a state is told by
  // its shape as well as its colour. Built as elements, never as markup from the data.
  var SVG = "http://www.w3.org/2000/svg";
  function shapeIcon(p) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "24");
    svg.setAttribute("height", "24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG, "path");
    path.setAttribute("d", p.shape);
    path.setAttribute("class", p.kind || "");
    svg.appendChild(path);
    return L.divIcon({html: svg, className: "map-shape", iconSize: [24, 24], iconAnchor: [12, 12],
                      tooltipAnchor: [12, 0]});
  }

  function baseMap(el) {
    var map = L.map(el, {
      zoomControl: false,
      maxZoom: Number(el.dataset.maxZoom) || 18,
      attributionControl: Boolean(el.dataset.attribution)
    });
    L.control.zoom({zoomInTitle: el.dataset.zoomIn, zoomOutTitle: el.dataset.zoomOut}).addTo(map);
    if (el.dataset.attribution) {
      map.attributionControl.setPrefix(false);
    }
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, {
        subdomains: el.dataset.subdomains || "abc",
        maxZoom: Number(el.dataset.maxZoom) || 18,
        attribution: el.dataset.attribution || ""
      }).addTo(map);
      if (el.dataset.labelTiles) {
        L.tileLayer(el.dataset.labelTiles, {
          subdomains: el.dataset.subdomains || "abc",
          maxZoom: Number(el.dataset.maxZoom) || 18
        }).addTo(map);
      }
    } else {
      // No outside tiles: the communities' areas on a plain background are the base map.
      el.classList.add("map-offline");
    }
    return map;
  }

  function drawAreas(el, map, then) {
    var url = el.dataset.areas;
    var inline = el.dataset.areasData && document.getElementById(el.dataset.areasData);
    var loading;
    if (inline) {
      // The areas written into the page as a JSON block (json_script), no second request.
      loading = Promise.resolve(null).then(function () { return JSON.parse(inline.textContent); });
    } else if (url && window.fetch) {
      loading = fetch(url, {credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; });
    } else {
      then(null);
      return;
    }
    loading
      .then(function (data) {
        if (!data || !data.features || !data.features.length) {
          then(null);
          return;
        }
        // The areas' extent, worked out from the data: a circle has no bounds until it is
        // on a map, and a map without a view holds its layers back.
        var extent = L.latLngBounds([]);
        data.features.forEach(function (feature) {
          var g = feature.geometry;
          if (g.type === "Point") {
            extent.extend(L.latLng(g.coordinates[1], g.coordinates[0])
              .toBounds(2 * (feature.properties.radius_m || 500)));
          } else if (g.type === "Polygon") {
            g.coordinates[0].forEach(function (p) { extent.extend([p[1], p[0]]); });
          }
        });
        var layer = L.geoJSON(data, {
          interactive: false,
          style: function (feature) {
            if (feature && feature.properties.kind === "district") {
              return {color: "#44546a", weight: 2, dashArray: "6 4", fillColor: "#c9d3de", fillOpacity: 0.15};
            }
            return {color: "#1d5a8e", weight: 2, fillColor: "#8fb8de", fillOpacity: 0.2};
          },
          pointToLayer: function (feature, latlng) {
            return L.circle(latlng, {radius: feature.properties.radius_m || 500});
          },
          onEachFeature: function (feature, shape) {
            if (feature.geometry.type === "Point") {
              return;  // a circle is named at its top edge, below
            }
            shape.bindTooltip(feature.properties.name, {
              permanent: true, direction: "center", className: "map-area-label"
            });
          }
        });
        // A circle's name sits on its top edge, clear of a pin at its centre.
        data.features.forEach(function (feature) {
          var g = feature.geometry;
          if (g.type === "Point") {
            var north = g.coordinates[1] + (feature.properties.radius_m || 500) / 111320;
            L.tooltip({permanent: true, direction: "top", className: "map-area-label", interactive: false})
              .setLatLng([north, g.coordinates[0]])
              .setContent(feature.properties.name)
              .addTo(map);
          }
        });
        then(extent.isValid() ? extent : null);
        layer.addTo(map);
      })
      .catch(function () { then(null); });
  }

  function pointsOf(el) {
    var block = el.dataset.points && document.getElementById(el.dataset.points);
    if (!block) {
      return [];
    }
    try {
      return JSON.parse(block.textContent) || [];
    } catch (e) {
      return [];
    }
  }

  function showMap(el) {
    var map = baseMap(el);
    var icon = markerIcon(el);
    var points = pointsOf(el);
    var bounds = [];
    points.forEach(function (p) {
      var marker = L.marker([p.lat, p.lng], {
        icon: p.shape ? shapeIcon(p) : icon, alt: p.label, title: p.label, keyboard: Boolean(p.url)
      });
      marker.bindTooltip(p.label);
      if (p.url) {
        marker.on("click keypress", function () { window.location.href = p.url; });
      }
      marker.addTo(map);
      bounds.push([p.lat, p.lng]);
    });
    if (el.dataset.route && bounds.length > 1) {
      // The points in their order (a food lot's journey): one line from each to the next.
      L.polyline(bounds, {color: "#1d5a8e", weight: 3, dashArray: "8 6", interactive: false})
        .addTo(map);
    }
    if (bounds.length) {
      map.fitBounds(bounds, {maxZoom: 15, padding: [30, 30]});
    }
    drawAreas(el, map, function (extent) {
      if (!bounds.length) {
        if (extent) {
          map.fitBounds(extent, {padding: [10, 10]});
        } else {
          map.setView([35, 105], 4);
        }
      }
    });
    return map;
  }

  function pickMap(el) {
    var picker = el.closest("[hidden]");
    if (picker) {
      picker.hidden = false;
    }
    var lat = document.getElementById(el.dataset.latitude);
    var lng = document.getElementById(el.dataset.longitude);
    var crs = document.getElementById(el.dataset.crsInput);
    var status = document.getElementById("place-status");
    // "typed": the coordinates are boxes people may fill in by hand (donors' forms), not hidden
    // fields; the pin follows what is typed, and nothing typed is ever cleared on its own.
    var typed = el.dataset.typed === "1";
    var map = baseMap(el);
    var marker = null;
    var icon = markerIcon(el);

    function say(key, values) {
      var text = (status && status.dataset[key]) || "";
      Object.keys(values || {}).forEach(function (name) {
        text = text.replace("{" + name + "}", values[name]);
      });
      if (status) {
        status.textContent = text;
      }
    }

    function place(latlng) {
      var at = L.latLng(latlng);
      if (marker === null) {
        marker = L.marker(at, {icon: icon, draggable: true, alt: el.dataset.marker, title: el.dataset.marker});
        marker.on("dragend", function () { place(marker.getLatLng()); });
        marker.addTo(map);
      } else {
        marker.setLatLng(at);
      }
      lat.value = at.lat.toFixed(7);
      lng.value = at.lng.toFixed(7);
      crs.value = el.dataset.crs;
      say("placed", {lat: at.lat.toFixed(5), lng: at.lng.toFixed(5)});
    }

    function clear() {
      if (marker !== null) {
        map.removeLayer(marker);
        marker = null;
      }
      lat.value = "";
      lng.value = "";
      crs.value = "";
      say("cleared");
    }

    // What is typed, in the map's system, or null while it is not a place.
    function typedPlace() {
      var a = parseFloat(lat.value);
      var b = parseFloat(lng.value);
      if (isNaN(a) || isNaN(b) || Math.abs(a) > 90 || Math.abs(b) > 180) {
        return null;
      }
      return between(a, b, crs.value, el.dataset.crs);
    }

    function follow() {
      var at = typedPlace();
      if (at === null) {
        return;
      }
      if (marker === null) {
        marker = L.marker(at, {icon: icon, draggable: true, alt: el.dataset.marker, title: el.dataset.marker});
        marker.on("dragend", function () { place(marker.getLatLng()); });
        marker.addTo(map);
      } else {
        marker.setLatLng(at);
      }
      map.setView(at, Math.max(map.getZoom(), 15), {animate: false});
    }

    map.on("click", function (event) { place(event.latlng); });
    if (typed) {
      [lat, lng, crs].forEach(function (input) { input.addEventListener("change", follow); });
    }
    var initial = lat.value && lng.value && (typed || !crs.value || crs.value === el.dataset.crs);
    drawAreas(el, map, function (extent) {
      if (initial) {
        return;
      }
      if (extent) {
        map.fitBounds(extent, {padding: [10, 10]});
      } else {
        map.setView([35, 105], 4);
      }
    });
    if (initial && typed) {
      follow();
    } else if (initial) {
      map.setView([Number(lat.value), Number(lng.value)], 16);
      place([Number(lat.value), Number(lng.value)]);
    } else if ((lat.value || lng.value) && !typed) {
      clear();
    }

    var locate = document.getElementById("place-locate");
    if (locate) {
      if (!navigator.geolocation) {
        locate.hidden = true;
      }
      locate.addEventListener("click", function () {
        say("locating");
        navigator.geolocation.getCurrentPosition(function (position) {
          var here = [position.coords.latitude, position.coords.longitude];
          if (el.dataset.crs === "gcj02") {
            here = toGcj02(here[0], here[1]);
          }
          map.setView(here, Math.max(map.getZoom(), 16));
          place(here);
        }, function () {
          say("unavailable");
        }, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
      });
    }
    var centre = document.getElementById("place-centre");
    if (centre) {
      centre.addEventListener("click", function () { place(map.getCenter()); });
    }
    var reset = document.getElementById("place-clear");
    if (reset) {
      reset.addEventListener("click", clear);
    }
    return map;
  }

  // "draw" maps: the compose page's area drawing. A click centres a circle (its radius from
  // the radius field, 500 m when empty) or adds a polygon's vertex, into the form's own fields
  // (circle_lat, circle_lon, circle_radius, polygon; shape_crs set to the map's system).
  // Without this script the tools stay hidden and the fields are typed in.
  function drawMap(el) {
    var tools = document.getElementById("draw-tools");
    if (tools) {
      tools.hidden = false;
    }
    var lat = document.getElementById("circle_lat");
    var lng = document.getElementById("circle_lon");
    var radius = document.getElementById("circle_radius");
    var polygon = document.getElementById("polygon");
    var crs = document.getElementById("shape_crs");
    var status = document.getElementById("draw-status");
    var map = baseMap(el);
    var style = {color: "#b00020", weight: 2, fillColor: "#b00020", fillOpacity: 0.15};
    var circle = null;
    var shape = null;

    function say(key, values) {
      var text = (status && status.dataset[key]) || "";
      Object.keys(values || {}).forEach(function (name) {
        text = text.replace("{" + name + "}", values[name]);
      });
      if (status) {
        status.textContent = text;
      }
    }
    function tool() {
      var chosen = document.querySelector("input[name=draw_tool]:checked");
      return chosen ? chosen.value : "circle";
    }
    function metres() {
      var r = Number(radius.value);
      return r > 0 ? r : 500;
    }
    function drawCircle(at) {
      if (circle === null) {
        circle = L.circle(at, Object.assign({radius: metres()}, style)).addTo(map);
      } else {
        circle.setLatLng(at);
        circle.setRadius(metres());
      }
    }
    function vertices() {
      return polygon.value.split("\n").map(function (line) {
        var parts = line.split(/[,，\s]+/).filter(Boolean).map(Number);
        return parts.length === 2 && !isNaN(parts[0]) && !isNaN(parts[1]) ? parts : null;
      }).filter(Boolean);
    }
    function drawPolygon() {
      var points = vertices();
      if (shape !== null) {
        map.removeLayer(shape);
        shape = null;
      }
      if (points.length) {
        shape = (points.length > 2 ? L.polygon(points, style) : L.polyline(points, style)).addTo(map);
      }
    }
    map.on("click", function (event) {
      var at = event.latlng;
      if (crs.value !== el.dataset.crs) {
        // Coordinates typed in another system would be mixed with the map's: start afresh.
        lat.value = "";
        lng.value = "";
        polygon.value = "";
        drawPolygon();
      }
      crs.value = el.dataset.crs;
      if (tool() === "polygon") {
        polygon.value = (polygon.value.trim() ? polygon.value.trim() + "\n" : "") +
          at.lat.toFixed(6) + ", " + at.lng.toFixed(6);
        drawPolygon();
        say("vertex", {n: vertices().length});
      } else {
        lat.value = at.lat.toFixed(6);
        lng.value = at.lng.toFixed(6);
        if (!radius.value) {
          radius.value = "500";
        }
        drawCircle(at);
        say("circle", {lat: at.lat.toFixed(5), lng: at.lng.toFixed(5), radius: metres()});
      }
    });
    radius.addEventListener("input", function () {
      if (circle !== null) {
        circle.setRadius(metres());
      }
    });
    polygon.addEventListener("change", drawPolygon);
    var reset = document.getElementById("draw-clear");
    if (reset) {
      reset.addEventListener("click", function () {
        if (circle !== null) {
          map.removeLayer(circle);
          circle = null;
        }
        lat.value = "";
        lng.value = "";
        radius.value = "";
        polygon.value = "";
        drawPolygon();
        say("cleared");
      });
    }
    var same = crs.value === el.dataset.crs;
    var typed = same && lat.value && lng.value && !isNaN(Number(lat.value)) && !isNaN(Number(lng.value));
    drawAreas(el, map, function (extent) {
      if (extent) {
        map.fitBounds(extent, {padding: [10, 10]});
      } else if (!typed) {
        map.setView([35, 105], 4);
      }
    });
    if (typed) {
      drawCircle([Number(lat.value), Number(lng.value)]);
    }
    if (same) {
      drawPolygon();
    }
    return map;
  }

  function start() {
    document.querySelectorAll("[data-map]").forEach(function (el) {
      var details = el.closest("details");
      function make() {
        var kind = el.dataset.map;
        var map = kind === "pick" ? pickMap(el) : kind === "draw" ? drawMap(el) : showMap(el);
        el.civichubMap = map;
      }
      if (details && !details.open) {
        // A map in a closed <details> has no size yet: draw it when it opens.
        details.addEventListener("toggle", function once() {
          details.removeEventListener("toggle", once);
          make();
        });
      } else {
        make();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
