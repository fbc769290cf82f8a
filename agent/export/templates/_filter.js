(function () {
  var box = document.getElementById("filter");
  if (!box) { return; }
  var rows = document.querySelectorAll("#rows tbody tr");
  box.addEventListener("input", function () {
    var q = box.value.toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      rows[i].style.display = rows[i].textContent.toLowerCase().indexOf(q) === -1 ? "none" : "";
    }
  });
})();
