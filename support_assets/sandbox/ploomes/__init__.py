"""The Ploomes simulator: the CRM's OData API (``Contacts``, ``Tasks``, ``InteractionRecords``,
``Users``, ``Tags``) over real HTTP, with the company's clients, tasks and interactions.

Shapes follow ``notes/payloads/ploomes`` (the ``Contacts`` record of the public client's
fixtures, ``OtherProperties`` rows as the official article shows them) and the type definitions
of ``InteractionRecords``. What the simulated API does:

* every request needs the ``User-Key`` header (``SANDBOX_PLOOMES_USER_KEY``), else 401;
* above ``ploomes_rate_limit_per_second`` requests a second (two by default, as public clients
  assume) it answers 429 with ``Retry-After``;
* lists take ``$top`` (at most 300, the default), ``$skip``, ``$filter`` (``eq ne gt ge lt le``
  joined by ``and``/``or``/``not`` and parentheses, on ids, types, documents and dates; dates
  are OData date-time literals *with* an offset, compared as instants), ``$orderby``,
  ``$select`` and ``$expand`` (``Contacts``: ``Phones``, ``OtherProperties``; ``Tasks`` and
  ``InteractionRecords``: ``Tags``); navigation properties are left out unless expanded.
  Answers are ``{"@odata.context", "value", "@odata.nextLink"}``, the link carrying ``$skip``;
* ``$count=true`` adds ``@odata.count``, the number of records the query matches;
* ``POST /Contacts`` creates a contact and answers it in ``value``.

Divergent mode (``SandboxConfig.divergent`` or ``PUT /_admin/ploomes/divergent``) answers as
real tenants do where they differ from the documentation: a ``$filter`` with an ``or`` or an
``any`` clause is ignored (every record comes back, unrelated ones included) while ``$top``,
``$skip`` and ``$orderby`` are kept; ``CPF`` and ``CNPJ`` come back as JSON numbers (leading
zeros lost) when they are digits; ids (``Id``) come back as strings; ``@odata.count`` is
missing.

Dates are São Paulo time with their offset (``2022-12-15T14:59:45.13-03:00``). Tag ids are
fixed (``TAG_IDS``) and listed by ``Tags`` with their names; which of them mean INSTALAÇÃO and
ENTREGA is the platform's setting or its lookup by name. The admin API moves the world on
(``advance``), renames or removes tags (``tags``), reports it (``truth``, ``stats`` with
create-call counts and the rate limit's record) and holds a create's answer on demand (``hold``).

`schema` holds the fixed vocabulary and entity sets, `odata` the query language, `world` the
account, `simulator` the routes (the rate limit, key and hold are `crm_api`'s).
"""

from support_assets.core.sandbox_defaults import SANDBOX_PLOOMES_USER_KEY
from support_assets.sandbox.ploomes.schema import TAG_ENTREGA, TAG_INSTALACAO
from support_assets.sandbox.ploomes.simulator import PloomesSimulator

__all__ = ["SANDBOX_PLOOMES_USER_KEY", "TAG_ENTREGA", "TAG_INSTALACAO", "PloomesSimulator"]
