from django import forms
from django.conf import settings


class UploadForm(forms.Form):
    """A .py file and the name of the function in it to run. The file is
    read in memory; ``cleaned_data["code"]`` is its text."""

    file = forms.FileField(label="Python file (.py)")
    function = forms.CharField(label="Function name", max_length=128,
                               initial="somefunctionname")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.endswith(".py"):
            raise forms.ValidationError("Upload a .py file.")
        if upload.size > settings.MAX_CODE_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size} bytes; the limit is {settings.MAX_CODE_BYTES}.")
        try:
            self.cleaned_data["code"] = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.")
        return upload

    def clean_function(self):
        name = self.cleaned_data["function"].strip()
        if not (name.isascii() and name.isidentifier()):
            raise forms.ValidationError("Not a Python function name.")
        return name
