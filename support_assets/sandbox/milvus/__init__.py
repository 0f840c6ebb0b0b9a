"""The Milvus simulator: the helpdesk's integration API (clients and tickets) over real HTTP.

Routes live under ``/milvus/api`` as they do under ``https://apiintegracao.milvus.com.br/api``.
Shapes and oddities follow ``notes/payloads/milvus`` (the official apiDoc): ``cliente/criar``
and ``chamado/criar`` answer a bare integer body, ``cliente_documento`` is a JSON number in the
documented request (a number loses its leading zeros, and so does the stored ``cnpj_cpf``),
``meta.paginate`` mixes strings and numbers (``current_page`` and ``per_page`` are strings),
and a ticket is created for the client's ``token``, never its numeric id.

What the simulated API does, where the documentation is silent choosing the defensive reading:

* every request needs ``Authorization: <token>`` (``SANDBOX_MILVUS_API_TOKEN``), else 401;
* its own rate limit (``milvus_rate_limit_per_second``, 429 with ``Retry-After``);
* ``GET cliente/busca``: with ``documento``, the clients whose ``cnpj_cpf`` equals it once
  punctuation is removed from both (leading zeros are *not* ignored); without it, every client
  in pages of at most 1000 (``total_registros``, default and maximum 1000; ``pagina``) with
  ``meta.paginate``, which the documentation does not show but the 1000 limit implies.
  ``status`` 1 (default) lists active clients only, 2 blocked ones, 3 both;
* ``POST cliente/criar`` never refuses a document it already has (that is how the old script
  made duplicates) and answers the new client's id;
* ``POST chamado/listagem``: ``total_registros`` at most 1000 (more is silently cut to 1000),
  ``pagina``, ``order_by`` (``codigo`` default) and ``is_descending`` (default true); filters
  in ``filtro_body``: ``cliente_token``, ``cliente_id``, ``codigo``, ``status``, ``assunto``
  (contains, ignoring case), ``data_hora_criacao_inicial``/``_final`` (São Paulo wall time);
* ``POST chamado/criar`` needs ``cliente_id`` = an existing client's token (400 otherwise, also
  for the numeric id), ``chamado_assunto`` and ``chamado_descricao``; answers the ticket's id.

Divergent mode (``SandboxConfig.divergent`` or ``PUT /_admin/milvus/divergent``) answers as
real tenants do where they differ from the documentation: ``cliente/busca`` ignores
``documento`` (it answers the listing's page instead); ``cnpj_cpf`` comes back as a JSON
number when it is digits (leading zeros lost), ids (``id`` of clients and tickets, and the bare
answers of ``cliente/criar`` and ``chamado/criar``) come back as strings, and listings carry no
``meta`` (no total, no last page: a client reads on until a short page).

``PUT /_admin/milvus/document_length`` makes the tenant cut the documents of the clients it
creates to a length (a CPF-sized column): what a read-back after a create must catch.
``PUT /_admin/milvus/page_cap`` makes ``cliente/busca`` serve fewer clients a page than its
``meta.paginate`` counts (the rest are never served): what reconciling with the total must catch.

The admin API reports the world (``truth``, with each client's ``cliente_id_integracao``),
``stats`` (create calls per endpoint, the rate limit's record), holds a create's answer on
demand (``hold``) so a test can kill the caller right after the create, and adds tickets
another integration opened earlier (``tickets``: a client token, subject, description and
creation instant each; not counted as create calls).

`world` holds the account and the API's shapes, `simulator` the routes (the rate limit, key and
hold are `crm_api`'s).
"""

from support_assets.core.sandbox_defaults import SANDBOX_MILVUS_API_TOKEN
from support_assets.sandbox.milvus.simulator import MilvusSimulator

__all__ = ["SANDBOX_MILVUS_API_TOKEN", "MilvusSimulator"]
