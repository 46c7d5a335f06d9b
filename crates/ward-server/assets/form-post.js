// Submits the form_post response at once; without JavaScript the person presses Continue.
document.getElementById("form-post").submit();
