"""Upload a .py file, run its function on each dataset through sandq, show
each value or error. Three ways of waiting: in a sync view, in an async
view, and in the browser (submit, then poll a JSON status view)."""

import sandq
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from . import sandq_glue as glue
from .data import DATASETS, EXAMPLES
from .forms import UploadForm


def _page(request, form, report=None, **extra):
    context = {"form": form, "report": report, "datasets": DATASETS,
               "examples": EXAMPLES, **extra}
    return render(request, "averages/index.html", context)


def index(request):
    """The original question, answered synchronously."""
    form = UploadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = glue.run(form.cleaned_data["code"], form.cleaned_data["function"])
    return _page(request, form, report, action="index")


async def index_async(request):
    """The same with sandq.asyncio: the worker thread is free while the job runs."""
    form = UploadForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = await glue.run_async(form.cleaned_data["code"], form.cleaned_data["function"])
    return _page(request, form, report, action="index_async")


@require_GET
def example(request, name):
    """Run a stored example program (no upload): links on the page, and a
    plain GET URL for headless browsers."""
    if name not in EXAMPLES:
        raise Http404("no such example")
    function, code, _ = EXAMPLES[name]
    report = glue.run(code, function)
    return _page(request, UploadForm(initial={"function": function}), report,
                 action="index", example=name, example_code=code)


@require_POST
def submit(request):
    """Submit without waiting, then let the browser poll."""
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, form, action="submit")
    job = glue.submit(form.cleaned_data["code"], form.cleaned_data["function"])
    return redirect("job", job_id=job.id)


def _outcome(job_id):
    try:
        return glue.client().job(job_id).outcome()
    except (ValueError, sandq.JobNotFound):
        raise Http404("no such job (or it expired)")


@require_GET
def job(request, job_id):
    """A submitted job: its results once final, else a page that polls."""
    outcome = _outcome(job_id)
    report = glue.from_outcome(outcome) if outcome.final else None
    return _page(request, UploadForm(), report, action="submit", job_id=job_id,
                 status=outcome.status)


@require_GET
def job_status(request, job_id):
    """JSON for the polling page: status, and the rows once final."""
    try:
        outcome = _outcome(job_id)
    except Http404 as e:
        return JsonResponse({"id": job_id, "error": str(e)}, status=404)
    data = {"id": job_id, "status": outcome.status, "final": outcome.final}
    if outcome.final:
        data.update(glue.from_outcome(outcome).as_json())
    return JsonResponse(data)
