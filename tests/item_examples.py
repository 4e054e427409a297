"""Input items as clients send them to `POST /v1/conversations/{id}/items`, one or more per type.

Built from the spec's `InputItem` schemas and the SDK 3.57 models: every example, once parley
has stored it, must validate as the SDK's output `ConversationItem`. `INVALID` lists bad items
with the `param` and `code` of the 400 that OpenAI (and so parley) answers for them.
"""

from __future__ import annotations

from typing import Any

# A 1x1 PNG.
_PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5E"
    "rkJggg=="
)
_PNG = "data:image/png;base64," + _PNG_B64
_PDF = "data:application/pdf;base64,JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSPj4K"
_WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    # --- message: the easy form, string content, every role -------------------------------
    ("message/easy user string", {"type": "message", "role": "user", "content": "Hello there"}),
    (
        "message/easy system string",
        {"type": "message", "role": "system", "content": "You are a terse assistant."},
    ),
    (
        "message/easy developer string",
        {"type": "message", "role": "developer", "content": "Answer in French."},
    ),
    (
        "message/easy assistant string",
        {"type": "message", "role": "assistant", "content": "Hi! How can I help?"},
    ),
    ("message/easy user empty string", {"type": "message", "role": "user", "content": ""}),
    (
        "message/easy user unicode",
        {"type": "message", "role": "user", "content": 'Grüße, 世界 🌍 "quoted" \\ back\nline'},
    ),
    # The SDK's own tests send `phase` on a user message; the reference says it must be kept.
    (
        "message/user phase commentary (SDK test form)",
        {"content": "string", "role": "user", "type": "message", "phase": "commentary"},
    ),
    (
        "message/assistant phase commentary",
        {
            "type": "message",
            "role": "assistant",
            "content": "Let me look that up.",
            "phase": "commentary",
        },
    ),
    (
        "message/assistant phase final_answer",
        {"type": "message", "role": "assistant", "content": "It is 21°C.", "phase": "final_answer"},
    ),
    ("message/assistant phase null", {"role": "assistant", "content": "Done.", "phase": None}),
    # --- message: the n8n node's form (no `type` key, one-part lists) ----------------------
    (
        "message/n8n system (no type)",
        {
            "role": "system",
            "content": [{"type": "input_text", "text": "You are a terse assistant."}],
        },
    ),
    (
        "message/n8n user (no type)",
        {"role": "user", "content": [{"type": "input_text", "text": "Hello there"}]},
    ),
    (
        "message/n8n user empty text (no type)",
        {"role": "user", "content": [{"type": "input_text", "text": ""}]},
    ),
    (
        "message/n8n assistant output_text without logprobs (no type)",
        {
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hi! How can I help?", "annotations": []}],
        },
    ),
    ("message/easy user string (no type)", {"role": "user", "content": "What's the weather?"}),
    ("message/easy user string, type null", {"type": None, "role": "user", "content": "Hi"}),
    # --- message: part lists ----------------------------------------------------------------
    (
        "message/user input_text + input_image url + input_image file_id",
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is in these images?"},
                {
                    "type": "input_image",
                    "image_url": "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg",
                    "detail": "high",
                },
                {"type": "input_image", "file_id": "file-6F2ksmvXxt4VdoqmHRw6kL", "detail": "low"},
            ],
        },
    ),
    (
        "message/user input_image data url, detail left out",
        {"role": "user", "content": [{"type": "input_image", "image_url": _PNG}]},
    ),
    (
        "message/user input_image detail null and original",
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_image", "image_url": _PNG, "detail": None},
                {"type": "input_image", "image_url": _PNG, "detail": "original"},
            ],
        },
    ),
    (
        "message/user input_file by id, url and data",
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Summarise these files."},
                {"type": "input_file", "file_id": "file-BK7bzQj3FfZFXr7DbL6xJwfo"},
                {
                    "type": "input_file",
                    "file_url": "https://www.berkshirehathaway.com/letters/2024ltr.pdf",
                },
                {
                    "type": "input_file",
                    "filename": "report.pdf",
                    "file_data": _PDF,
                    "detail": "high",
                },
            ],
        },
    ),
    (
        "message/developer input_text with prompt_cache_breakpoint",
        {
            "type": "message",
            "role": "developer",
            "content": [
                {
                    "type": "input_text",
                    "text": "Long shared instructions...",
                    "prompt_cache_breakpoint": {"mode": "explicit"},
                }
            ],
        },
    ),
    (
        "message/system part list, status in_progress",
        {
            "type": "message",
            "role": "system",
            "status": "in_progress",
            "content": [{"type": "input_text", "text": "Be brief."}],
        },
    ),
    (
        "message/user empty part list",
        {"type": "message", "role": "user", "content": []},
    ),
    (
        "message/assistant output_text with url_citation, client id and status",
        {
            "type": "message",
            "id": "msg_67ccd3acc8d48190a77525dc6de64b4104becb25c7e2a0a0",
            "status": "completed",
            "role": "assistant",
            "phase": "final_answer",
            "content": [
                {
                    "type": "output_text",
                    "text": "OpenAI released the Conversations API in 2025 [openai.com].",
                    "annotations": [
                        {
                            "type": "url_citation",
                            "url": "https://openai.com/index/new-tools-for-building-agents/",
                            "title": "New tools for building agents",
                            "start_index": 44,
                            "end_index": 58,
                        }
                    ],
                    "logprobs": [],
                }
            ],
        },
    ),
    (
        "message/assistant output_text with every annotation kind and logprobs",
        {
            "type": "message",
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "See the report and the chart.",
                    "annotations": [
                        {
                            "type": "file_citation",
                            "file_id": "file-2dtbBZdjtDKS8eqWxqbgDi",
                            "filename": "report.pdf",
                            "index": 8,
                        },
                        {
                            "type": "container_file_citation",
                            "container_id": "cntr_682d0e7318108198aa783fd921ff305e",
                            "file_id": "cfile_682d0e8c7f848198b8b5e2ae0b4e9fcd",
                            "filename": "chart.png",
                            "start_index": 18,
                            "end_index": 28,
                        },
                        {"type": "file_path", "file_id": "file-9GAHZq4CtUUkTiF8QRHs4x", "index": 0},
                    ],
                    "logprobs": [
                        {
                            "token": "See",
                            "logprob": -0.0021,
                            "bytes": [83, 101, 101],
                            "top_logprobs": [
                                {"token": "See", "logprob": -0.0021, "bytes": [83, 101, 101]},
                                {"token": "Look", "logprob": -6.25, "bytes": [76, 111, 111, 107]},
                            ],
                        }
                    ],
                }
            ],
        },
    ),
    (
        "message/assistant output_text without annotations",
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "OK."}],
        },
    ),
    (
        "message/assistant refusal",
        {
            "type": "message",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "refusal", "refusal": "I'm sorry, I can't help with that."}],
        },
    ),
    (
        "message/assistant status incomplete, text + refusal",
        {
            "type": "message",
            "id": "msg_partial_1",
            "role": "assistant",
            "status": "incomplete",
            "content": [
                {"type": "output_text", "text": "Part one", "annotations": [], "logprobs": []},
                {"type": "refusal", "refusal": "I can't continue."},
            ],
        },
    ),
    (
        "message/id and status null",
        {"type": "message", "id": None, "status": None, "role": "user", "content": "hi"},
    ),
    # --- function_call / function_call_output ---------------------------------------------
    (
        "function_call/minimal",
        {
            "type": "function_call",
            "call_id": "call_12345xyz",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
    ),
    (
        "function_call/with id, status, namespace, caller and async",
        {
            "type": "function_call",
            "id": "fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0",
            "call_id": "call_unLAR8MvFNptuiZK6K6HCy5k",
            "name": "get_weather",
            "namespace": "weather",
            "arguments": "{}",
            "status": "in_progress",
            "caller": {"type": "program", "caller_id": "call_prg_1"},
            "async": True,
        },
    ),
    (
        "function_call/caller direct",
        {
            "type": "function_call",
            "call_id": "call_direct_1",
            "name": "lookup",
            "arguments": '{"q": "x"}',
            "caller": {"type": "direct"},
            "status": "completed",
        },
    ),
    (
        "function_call_output/string output",
        {
            "type": "function_call_output",
            "call_id": "call_12345xyz",
            "output": '{"temperature_c": 21, "conditions": "sunny"}',
        },
    ),
    (
        "function_call_output/id and status null, empty output",
        {
            "type": "function_call_output",
            "id": None,
            "call_id": "call_12345xyz",
            "output": "",
            "status": None,
        },
    ),
    (
        "function_call_output/list of text, image and file parts",
        {
            "type": "function_call_output",
            "id": "fco_client_given_1",
            "call_id": "call_screenshot_1",
            "name": "take_screenshot",
            "namespace": "browser",
            "caller": {"type": "direct"},
            "status": "completed",
            "output": [
                {"type": "input_text", "text": "Here is the page."},
                {"type": "input_image", "image_url": _PNG, "detail": "high"},
                {"type": "input_file", "filename": "page.pdf", "file_data": _PDF},
            ],
        },
    ),
    # The SDK's `ResponseInputImageContentParam.detail` and the spec's
    # `InputImageContentParamAutoParam.detail` are optional; the output part requires it.
    (
        "function_call_output/list with input_image, detail left out",
        {
            "type": "function_call_output",
            "call_id": "call_screenshot_2",
            "output": [{"type": "input_image", "image_url": _PNG}],
        },
    ),
    (
        "function_call_output/list with input_image, detail null",
        {
            "type": "function_call_output",
            "call_id": "call_screenshot_3",
            "output": [{"type": "input_image", "file_id": "file-abc123", "detail": None}],
        },
    ),
    # --- file_search_call --------------------------------------------------------------------
    (
        "file_search_call/with results",
        {
            "type": "file_search_call",
            "id": "fs_67c09ccea8c48191ade9367e3ba71515",
            "status": "completed",
            "queries": ["What is deep research?"],
            "results": [
                {
                    "file_id": "file-2dtbBZdjtDKS8eqWxqbgDi",
                    "filename": "deep_research_blog.pdf",
                    "score": 0.8765,
                    "text": "Deep research is an agent that...",
                    "attributes": {"author": "OpenAI", "year": 2025, "public": True},
                }
            ],
        },
    ),
    (
        "file_search_call/no id, no status, results null",
        {"type": "file_search_call", "queries": ["refund policy", "returns"], "results": None},
    ),
    # --- web_search_call: each action kind ---------------------------------------------------
    (
        "web_search_call/search with query, queries and sources",
        {
            "type": "web_search_call",
            "id": "ws_67c9fa0502748190b7dd390736892e100be649c1a5ff9609",
            "status": "completed",
            "action": {
                "type": "search",
                "query": "positive news today",
                "queries": ["positive news today", "good news stories"],
                "sources": [{"type": "url", "url": "https://www.goodnewsnetwork.org/"}],
            },
        },
    ),
    (
        "web_search_call/search minimal, no id or status",
        {"type": "web_search_call", "action": {"type": "search"}},
    ),
    (
        "web_search_call/open_page",
        {
            "type": "web_search_call",
            "status": "completed",
            "action": {"type": "open_page", "url": "https://example.com/article"},
        },
    ),
    (
        "web_search_call/open_page url null",
        {
            "type": "web_search_call",
            "status": "searching",
            "action": {"type": "open_page", "url": None},
        },
    ),
    (
        "web_search_call/find_in_page",
        {
            "type": "web_search_call",
            "id": "ws_find_1",
            "status": "failed",
            "action": {
                "type": "find_in_page",
                "url": "https://example.com/article",
                "pattern": "Conversations API",
            },
        },
    ),
    # --- image_generation_call -------------------------------------------------------------
    (
        "image_generation_call/completed with result",
        {
            "type": "image_generation_call",
            "id": "ig_67ccd3acc8d48190a77525dc6de64b4104becb25c7e2a0a0",
            "status": "completed",
            "result": _PNG_B64,
        },
    ),
    (
        "image_generation_call/generating, result null, SDK-only fields",
        {
            "type": "image_generation_call",
            "status": "generating",
            "result": None,
            "action": "generate",
            "background": "opaque",
            "output_format": "png",
            "quality": "high",
            "revised_prompt": "A gray tabby cat hugging an otter with an orange scarf",
            "size": "1024x1024",
        },
    ),
    # --- computer_call / computer_call_output ------------------------------------------------
    (
        "computer_call/click with pending safety check",
        {
            "type": "computer_call",
            "id": "cu_67cc6f3c1f3481908a3e3f1dfd9b8f3c",
            "call_id": "call_zw3m2tBKp5ywJXv6HxAqwvUa",
            "status": "completed",
            "action": {"type": "click", "button": "left", "x": 156, "y": 50},
            "pending_safety_checks": [
                {
                    "id": "cu_sc_1",
                    "code": "malicious_instructions",
                    "message": "We've detected instructions that may cause your application to "
                    "perform malicious or unauthorized actions.",
                }
            ],
        },
    ),
    (
        "computer_call/batched actions, no id or status",
        {
            "type": "computer_call",
            "call_id": "call_batch_1",
            "pending_safety_checks": [],
            "actions": [
                {"type": "move", "x": 10, "y": 20, "keys": ["shift"]},
                {"type": "double_click", "x": 10, "y": 20, "keys": None},
                {"type": "drag", "path": [{"x": 0, "y": 0}, {"x": 100, "y": 100}]},
                {"type": "type", "text": "hello world"},
                {"type": "keypress", "keys": ["CTRL", "S"]},
                {"type": "scroll", "x": 300, "y": 400, "scroll_x": 0, "scroll_y": -200},
                {"type": "wait"},
                {"type": "screenshot"},
            ],
        },
    ),
    (
        "computer_call_output/image_url with acknowledged safety checks",
        {
            "type": "computer_call_output",
            "call_id": "call_zw3m2tBKp5ywJXv6HxAqwvUa",
            "output": {"type": "computer_screenshot", "image_url": _PNG},
            "acknowledged_safety_checks": [
                {"id": "cu_sc_1", "code": "malicious_instructions", "message": None}
            ],
        },
    ),
    (
        "computer_call_output/file_id, id and status given",
        {
            "type": "computer_call_output",
            "id": "cuo_given_1",
            "status": "incomplete",
            "call_id": "call_batch_1",
            "output": {"type": "computer_screenshot", "file_id": "file-screenshot-42"},
        },
    ),
    # --- tool_search_call / tool_search_output ----------------------------------------------
    (
        "tool_search_call/server, no call_id or execution",
        {"type": "tool_search_call", "arguments": {"query": "calendar tools"}},
    ),
    (
        "tool_search_call/client with call_id and status",
        {
            "type": "tool_search_call",
            "id": "tsc_given_1",
            "call_id": "call_ts_1",
            "execution": "client",
            "arguments": {"query": "email", "limit": 3},
            "status": "completed",
        },
    ),
    (
        "tool_search_output/function and namespace tools",
        {
            "type": "tool_search_output",
            "call_id": "call_ts_1",
            "execution": "client",
            "tools": [
                _WEATHER_TOOL,
                {
                    "type": "namespace",
                    "name": "calendar",
                    "description": "Calendar tools.",
                    "tools": [
                        {
                            "type": "function",
                            "name": "list_events",
                            "description": "List events in a range.",
                            "parameters": {"type": "object", "properties": {}},
                            "strict": False,
                        },
                        {"type": "custom", "name": "free_form_query"},
                    ],
                },
            ],
        },
    ),
    (
        "tool_search_output/empty tools, server defaults",
        {"type": "tool_search_output", "tools": [], "status": "completed"},
    ),
    (
        "tool_search_output/server with id and a tool_search tool",
        {
            "type": "tool_search_output",
            "id": "tso_given_1",
            "execution": "server",
            "status": "completed",
            "tools": [
                {"type": "tool_search", "execution": "server", "description": None},
                {"type": "image_generation", "quality": "low", "size": "1024x1024"},
            ],
        },
    ),
    # --- additional_tools ----------------------------------------------------------------
    (
        "additional_tools/function, web_search, mcp and custom tools",
        {
            "type": "additional_tools",
            "role": "developer",
            "tools": [
                _WEATHER_TOOL,
                {"type": "web_search", "search_context_size": "low"},
                {
                    "type": "mcp",
                    "server_label": "deepwiki",
                    "server_url": "https://mcp.deepwiki.com/mcp",
                    "require_approval": "never",
                },
                {
                    "type": "custom",
                    "name": "code_exec",
                    "description": "Executes arbitrary Python code.",
                    "format": {"type": "text"},
                },
            ],
        },
    ),
    (
        "additional_tools/with id",
        {
            "type": "additional_tools",
            "id": "at_given_1",
            "role": "developer",
            "tools": [{"type": "file_search", "vector_store_ids": ["vs_1234567890"]}],
        },
    ),
    # --- configuration_update (SDK 3.57) --------------------------------------------------
    (
        "configuration_update/reasoning effort and text format",
        {
            "type": "configuration_update",
            "reasoning": {"effort": "high"},
            "text": {"format": {"type": "text"}},
        },
    ),
    (
        "configuration_update/json_schema format, with id",
        {
            "type": "configuration_update",
            "id": "cfg_given_1",
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "weather",
                    "schema": {"type": "object", "properties": {"c": {"type": "number"}}},
                    "strict": True,
                }
            },
        },
    ),
    # --- reasoning ---------------------------------------------------------------------------
    (
        "reasoning/summary, id given",
        {
            "type": "reasoning",
            "id": "rs_6820f383d7c08191846711c5df8233bc0ac5ba57aafcbac7",
            "summary": [
                {"type": "summary_text", "text": "**Checking the weather**\n\nThe user asks..."}
            ],
        },
    ),
    (
        "reasoning/encrypted_content, reasoning_text content and status",
        {
            "type": "reasoning",
            "id": "rs_enc_1",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": "First, parse the city name."}],
            "encrypted_content": "gAAAAABoISQ24OtwbJmL-YJYgzXbsAHxB1c0BNMHqg",
            "status": "incomplete",
        },
    ),
    (
        "reasoning/no id, empty summary",
        {"type": "reasoning", "summary": [], "encrypted_content": None},
    ),
    # --- program / program_output ------------------------------------------------------------
    (
        "program/with id",
        {
            "type": "program",
            "id": "prg_given_1",
            "call_id": "call_prg_1",
            "code": "const w = await tools.get_weather({city: 'Paris'}); return w;",
            "fingerprint": "fp_7a1c0e",
        },
    ),
    (
        "program/without id",
        {
            "type": "program",
            "call_id": "call_prg_2",
            "code": "return 1 + 1;",
            "fingerprint": "fp_2",
        },
    ),
    (
        "program_output/completed",
        {
            "type": "program_output",
            "id": "prgo_given_1",
            "call_id": "call_prg_1",
            "result": '{"temperature_c": 21}',
            "status": "completed",
        },
    ),
    (
        "program_output/incomplete without id",
        {"type": "program_output", "call_id": "call_prg_2", "result": "", "status": "incomplete"},
    ),
    # --- compaction --------------------------------------------------------------------------
    (
        "compaction/encrypted_content only",
        {"type": "compaction", "encrypted_content": "gAAAAABpM0Yj-compacted-context"},
    ),
    (
        "compaction/with id and created_by",
        {
            "type": "compaction",
            "id": "cmp_001",
            "encrypted_content": "gAAAAABpM0Yj-compacted-context-2",
            "created_by": "resp_123",
        },
    ),
    # --- code_interpreter_call ----------------------------------------------------------------
    (
        "code_interpreter_call/logs and image outputs",
        {
            "type": "code_interpreter_call",
            "id": "ci_67ccd3acc8d48190a77525dc6de64b41",
            "status": "completed",
            "container_id": "cntr_682d0e7318108198aa783fd921ff305e",
            "code": "import math\nprint(math.sqrt(2))",
            "outputs": [
                {"type": "logs", "logs": "1.4142135623730951\n"},
                {"type": "image", "url": "https://example.com/plot.png"},
            ],
        },
    ),
    (
        "code_interpreter_call/code and outputs null",
        {
            "type": "code_interpreter_call",
            "status": "interpreting",
            "container_id": "cntr_abc",
            "code": None,
            "outputs": None,
        },
    ),
    # --- local_shell_call / local_shell_call_output ------------------------------------------
    (
        "local_shell_call/exec with options",
        {
            "type": "local_shell_call",
            "id": "lsh_given_1",
            "call_id": "call_ls_1",
            "status": "completed",
            "action": {
                "type": "exec",
                "command": ["ls", "-la"],
                "env": {"LANG": "C.UTF-8"},
                "timeout_ms": 10000,
                "working_directory": "/tmp",
                "user": "nobody",
            },
        },
    ),
    (
        "local_shell_call/exec minimal, no id or status",
        {
            "type": "local_shell_call",
            "call_id": "call_ls_2",
            "action": {"type": "exec", "command": ["pwd"], "env": {}},
        },
    ),
    (
        "local_shell_call_output/with id",
        {
            "type": "local_shell_call_output",
            "id": "call_ls_1",
            "output": '{"stdout": "total 0\\n", "stderr": "", "exit_code": 0}',
        },
    ),
    (
        "local_shell_call_output/without id, status incomplete",
        {"type": "local_shell_call_output", "output": "{}", "status": "incomplete"},
    ),
    # --- shell_call / shell_call_output --------------------------------------------------------
    (
        "shell_call/local environment",
        {
            "type": "shell_call",
            "call_id": "call_sh_1",
            "action": {"commands": ["ls -la", "cat README.md"], "timeout_ms": 60000},
            "environment": {"type": "local"},
            "status": "completed",
        },
    ),
    (
        "shell_call/container reference, caller, id",
        {
            "type": "shell_call",
            "id": "sh_given_1",
            "call_id": "call_sh_2",
            "caller": {"type": "direct"},
            "action": {"commands": ["python -V"], "timeout_ms": None, "max_output_length": 4096},
            "environment": {"type": "container_reference", "container_id": "cntr_abc"},
        },
    ),
    (
        "shell_call/no environment",
        {"type": "shell_call", "call_id": "call_sh_3", "action": {"commands": ["true"]}},
    ),
    (
        "shell_call_output/exit and timeout outcomes",
        {
            "type": "shell_call_output",
            "call_id": "call_sh_1",
            "max_output_length": 4096,
            "output": [
                {
                    "stdout": "README.md\n",
                    "stderr": "",
                    "outcome": {"type": "exit", "exit_code": 0},
                },
                {"stdout": "", "stderr": "", "outcome": {"type": "timeout"}},
            ],
        },
    ),
    (
        "shell_call_output/failed command, id and status",
        {
            "type": "shell_call_output",
            "id": "sho_given_1",
            "call_id": "call_sh_2",
            "status": "incomplete",
            "caller": {"type": "program", "caller_id": "call_prg_1"},
            "output": [
                {
                    "stdout": "",
                    "stderr": "python: command not found\n",
                    "outcome": {"type": "exit", "exit_code": 127},
                }
            ],
        },
    ),
    # --- apply_patch_call / apply_patch_call_output: each operation ----------------------------
    (
        "apply_patch_call/create_file",
        {
            "type": "apply_patch_call",
            "call_id": "call_ap_1",
            "status": "completed",
            "operation": {
                "type": "create_file",
                "path": "src/hello.py",
                "diff": "+print('hello')\n",
            },
        },
    ),
    (
        "apply_patch_call/update_file with id",
        {
            "type": "apply_patch_call",
            "id": "apc_given_1",
            "call_id": "call_ap_2",
            "status": "in_progress",
            "caller": {"type": "direct"},
            "operation": {
                "type": "update_file",
                "path": "README.md",
                "diff": "@@ -1 +1 @@\n-# old\n+# new\n",
            },
        },
    ),
    (
        "apply_patch_call/delete_file",
        {
            "type": "apply_patch_call",
            "call_id": "call_ap_3",
            "status": "completed",
            "operation": {"type": "delete_file", "path": "obsolete.txt"},
        },
    ),
    (
        "apply_patch_call_output/completed with output",
        {
            "type": "apply_patch_call_output",
            "call_id": "call_ap_1",
            "status": "completed",
            "output": "Created src/hello.py",
        },
    ),
    (
        "apply_patch_call_output/failed, id, output null",
        {
            "type": "apply_patch_call_output",
            "id": "apco_given_1",
            "call_id": "call_ap_2",
            "status": "failed",
            "output": None,
        },
    ),
    # --- MCP ----------------------------------------------------------------------------------
    (
        "mcp_list_tools/tools with annotations",
        {
            "type": "mcp_list_tools",
            "id": "mcpl_682d4379df088191886b70f4ec39f90403937d5f622d7a90",
            "server_label": "deepwiki",
            "tools": [
                {
                    "name": "read_wiki_structure",
                    "description": "Get a list of documentation topics for a GitHub repository",
                    "input_schema": {
                        "type": "object",
                        "properties": {"repoName": {"type": "string"}},
                        "required": ["repoName"],
                    },
                    "annotations": {"read_only": True},
                },
                {"name": "ask_question", "input_schema": {}, "annotations": None},
            ],
        },
    ),
    (
        "mcp_list_tools/error, no id",
        {
            "type": "mcp_list_tools",
            "server_label": "broken",
            "tools": [],
            "error": "Failed to connect to MCP server",
        },
    ),
    (
        "mcp_approval_request/with id",
        {
            "type": "mcp_approval_request",
            "id": "mcpr_682d498e3bd4819196a0ce1664f8e77b04ad1e533afccbfa",
            "server_label": "deepwiki",
            "name": "ask_question",
            "arguments": '{"repoName":"modelcontextprotocol/specification","question":"How?"}',
        },
    ),
    (
        "mcp_approval_request/without id",
        {"type": "mcp_approval_request", "server_label": "x", "name": "y", "arguments": "{}"},
    ),
    (
        "mcp_approval_response/approve, no id",
        {
            "type": "mcp_approval_response",
            "approval_request_id": "mcpr_682d498e3bd4819196a0ce1664f8e77b04ad1e533afccbfa",
            "approve": True,
        },
    ),
    (
        "mcp_approval_response/deny with reason and id",
        {
            "type": "mcp_approval_response",
            "id": "mcpa_given_1",
            "approval_request_id": "mcpr_2",
            "approve": False,
            "reason": "Not allowed to write files.",
        },
    ),
    (
        "mcp_call/completed with output",
        {
            "type": "mcp_call",
            "id": "mcp_682d437d90a88191bf88cd03aae0c3e503937d5f622d7a90",
            "server_label": "deepwiki",
            "name": "ask_question",
            "arguments": '{"repoName":"openai/openai-python","question":"How?"}',
            "output": "The SDK supports...",
            "error": None,
            "status": "completed",
            "approval_request_id": None,
        },
    ),
    (
        "mcp_call/protocol error, no id or status",
        {
            "type": "mcp_call",
            "server_label": "deepwiki",
            "name": "ask_question",
            "arguments": "{}",
            "error": {"type": "mcp_protocol_error", "code": -32602, "message": "Invalid params"},
        },
    ),
    (
        "mcp_call/tool execution error, failed",
        {
            "type": "mcp_call",
            "server_label": "fs",
            "name": "write_file",
            "arguments": '{"path": "/etc/passwd"}',
            "status": "failed",
            "approval_request_id": "mcpr_2",
            "error": {
                "type": "mcp_tool_execution_error",
                "content": [{"type": "text", "text": "permission denied"}],
            },
        },
    ),
    (
        "mcp_call/http error, calling",
        {
            "type": "mcp_call",
            "server_label": "remote",
            "name": "fetch",
            "arguments": "{}",
            "status": "calling",
            "error": {"type": "http_error", "code": 502, "message": "Bad gateway"},
        },
    ),
    # --- custom_tool_call / custom_tool_call_output ----------------------------------------------
    (
        "custom_tool_call/minimal",
        {
            "type": "custom_tool_call",
            "call_id": "call_ct_1",
            "name": "code_exec",
            "input": "print('hello world')",
        },
    ),
    (
        "custom_tool_call/with id, namespace and caller",
        {
            "type": "custom_tool_call",
            "id": "ctc_6890e975e86c819c9338825b3e1994810694874df8bc3b5e",
            "call_id": "call_ct_2",
            "namespace": "sandbox",
            "name": "code_exec",
            "input": "1 + 1",
            "caller": {"type": "program", "caller_id": "call_prg_1"},
        },
    ),
    (
        "custom_tool_call_output/string output",
        {"type": "custom_tool_call_output", "call_id": "call_ct_1", "output": "hello world\n"},
    ),
    (
        "custom_tool_call_output/list output, id given",
        {
            "type": "custom_tool_call_output",
            "id": "ctco_given_1",
            "call_id": "call_ct_2",
            "caller": {"type": "direct"},
            "output": [
                {"type": "input_text", "text": "Rendered:"},
                {"type": "input_image", "image_url": _PNG, "detail": "auto"},
                {"type": "input_file", "file_id": "file-out-1", "filename": "out.csv"},
            ],
        },
    ),
]

_LONG_CALL_ID = "call_" + "x" * 60

INVALID: list[tuple[str, Any, str, str]] = [
    # --- the item itself and its `type` -------------------------------------------------------
    ("item not an object", "hello", "items[0]", "invalid_type"),
    ("unknown type", {"type": "banana", "content": "x"}, "items[0].type", "invalid_value"),
    (
        "type not a string",
        {"type": 5, "role": "user", "content": "x"},
        "items[0].type",
        "invalid_type",
    ),
    (
        "no type, nothing to infer it from",
        {"call_id": "c", "output": "x"},
        "items[0].type",
        "missing_required_parameter",
    ),
    (
        "compaction_trigger cannot be stored",
        {"type": "compaction_trigger"},
        "items[0].type",
        "invalid_value",
    ),
    (
        "item_reference without id",
        {"type": "item_reference"},
        "items[0].id",
        "missing_required_parameter",
    ),
    (
        "item_reference id not a string",
        {"type": "item_reference", "id": 7},
        "items[0].id",
        "invalid_type",
    ),
    # --- configuration_update: not in the spec, so these mirror the SDK's output model ----------
    (
        "configuration_update bad reasoning effort",
        {"type": "configuration_update", "reasoning": {"effort": "extreme"}},
        "items[0].reasoning.effort",
        "invalid_value",
    ),
    (
        "configuration_update text a string",
        {"type": "configuration_update", "text": "json"},
        "items[0].text",
        "invalid_type",
    ),
    # --- message --------------------------------------------------------------------------------
    (
        "message without role",
        {"type": "message", "content": "hi"},
        "items[0].role",
        "missing_required_parameter",
    ),
    ("message without content", {"role": "user"}, "items[0].content", "missing_required_parameter"),
    ("message role tool", {"role": "tool", "content": "hi"}, "items[0].role", "invalid_value"),
    ("message role not a string", {"role": 1, "content": "hi"}, "items[0].role", "invalid_type"),
    (
        "message content a number",
        {"role": "user", "content": 42},
        "items[0].content",
        "invalid_type",
    ),
    ("message content null", {"role": "user", "content": None}, "items[0].content", "invalid_type"),
    (
        "message part text a number",
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 5}]},
        "items[0].content[0].text",
        "invalid_type",
    ),
    (
        "message part without text",
        {"role": "user", "content": [{"type": "input_text"}]},
        "items[0].content[0].text",
        "missing_required_parameter",
    ),
    (
        "message part not an object",
        {"role": "user", "content": ["hello"]},
        "items[0].content[0]",
        "invalid_type",
    ),
    (
        "message part unknown type",
        {"role": "user", "content": [{"type": "input_video", "video_url": "https://x"}]},
        "items[0].content[0].type",
        "invalid_value",
    ),
    (
        "message second part bad image detail",
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "ultra"},
            ],
        },
        "items[0].content[1].detail",
        "invalid_value",
    ),
    (
        "message input_file detail original",
        {"role": "user", "content": [{"type": "input_file", "file_id": "f", "detail": "original"}]},
        "items[0].content[0].detail",
        "invalid_value",
    ),
    (
        "message url_citation without url",
        {
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "t",
                    "annotations": [
                        {"type": "url_citation", "title": "T", "start_index": 0, "end_index": 1}
                    ],
                }
            ],
        },
        "items[0].content[0].annotations[0].url",
        "missing_required_parameter",
    ),
    (
        "message annotation index a string",
        {
            "role": "assistant",
            "content": [
                {
                    "type": "output_text",
                    "text": "t",
                    "annotations": [{"type": "file_path", "file_id": "f", "index": "0"}],
                }
            ],
        },
        "items[0].content[0].annotations[0].index",
        "invalid_type",
    ),
    (
        "message refusal not a string",
        {"role": "assistant", "content": [{"type": "refusal", "refusal": None}]},
        "items[0].content[0].refusal",
        "invalid_type",
    ),
    (
        "message bad status",
        {"role": "user", "content": "hi", "status": "done"},
        "items[0].status",
        "invalid_value",
    ),
    (
        "message bad phase",
        {"role": "assistant", "content": "hi", "phase": "draft"},
        "items[0].phase",
        "invalid_value",
    ),
    (
        "message id a number",
        {"id": 12, "role": "user", "content": "hi"},
        "items[0].id",
        "invalid_type",
    ),
    (
        "message id empty",
        {"id": "", "role": "user", "content": "hi"},
        "items[0].id",
        "empty_string",
    ),
    # --- function_call / function_call_output -----------------------------------------------------
    (
        "function_call without arguments",
        {"type": "function_call", "call_id": "c", "name": "f"},
        "items[0].arguments",
        "missing_required_parameter",
    ),
    (
        "function_call arguments an object",
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": {"city": "Paris"}},
        "items[0].arguments",
        "invalid_type",
    ),
    (
        "function_call bad status",
        {
            "type": "function_call",
            "call_id": "c",
            "name": "f",
            "arguments": "{}",
            "status": "failed",
        },
        "items[0].status",
        "invalid_value",
    ),
    (
        "function_call id a number",
        {"type": "function_call", "id": 1, "call_id": "c", "name": "f", "arguments": "{}"},
        "items[0].id",
        "invalid_type",
    ),
    (
        "function_call program caller without caller_id",
        {
            "type": "function_call",
            "call_id": "c",
            "name": "f",
            "arguments": "{}",
            "caller": {"type": "program"},
        },
        "items[0].caller.caller_id",
        "missing_required_parameter",
    ),
    (
        "function_call_output without output",
        {"type": "function_call_output", "call_id": "c"},
        "items[0].output",
        "missing_required_parameter",
    ),
    (
        "function_call_output output a number",
        {"type": "function_call_output", "call_id": "c", "output": 42},
        "items[0].output",
        "invalid_type",
    ),
    (
        "function_call_output call_id too long",
        {"type": "function_call_output", "call_id": _LONG_CALL_ID, "output": "x"},
        "items[0].call_id",
        "string_above_max_length",
    ),
    (
        "function_call_output unknown part type",
        {
            "type": "function_call_output",
            "call_id": "c",
            "output": [{"type": "output_text", "text": "x"}],
        },
        "items[0].output[0].type",
        "invalid_value",
    ),
    (
        "function_call_output part text a number",
        {
            "type": "function_call_output",
            "call_id": "c",
            "output": [{"type": "input_text", "text": 1}],
        },
        "items[0].output[0].text",
        "invalid_type",
    ),
    # --- other tool calls -------------------------------------------------------------------
    (
        "file_search_call queries a string",
        {"type": "file_search_call", "queries": "refunds"},
        "items[0].queries",
        "invalid_type",
    ),
    (
        "web_search_call unknown action",
        {"type": "web_search_call", "action": {"type": "browse", "url": "https://x"}},
        "items[0].action.type",
        "invalid_value",
    ),
    (
        "web_search_call find_in_page without pattern",
        {"type": "web_search_call", "action": {"type": "find_in_page", "url": "https://x"}},
        "items[0].action.pattern",
        "missing_required_parameter",
    ),
    (
        "web_search_call without action",
        {"type": "web_search_call", "status": "completed"},
        "items[0].action",
        "missing_required_parameter",
    ),
    (
        "image_generation_call without result",
        {"type": "image_generation_call", "status": "completed"},
        "items[0].result",
        "missing_required_parameter",
    ),
    (
        "computer_call bad button",
        {
            "type": "computer_call",
            "call_id": "c",
            "pending_safety_checks": [],
            "action": {"type": "click", "button": "middle", "x": 1, "y": 2},
        },
        "items[0].action.button",
        "invalid_value",
    ),
    (
        "computer_call x a string",
        {
            "type": "computer_call",
            "call_id": "c",
            "pending_safety_checks": [],
            "action": {"type": "move", "x": "10", "y": 2},
        },
        "items[0].action.x",
        "invalid_type",
    ),
    (
        "computer_call_output not a screenshot",
        {"type": "computer_call_output", "call_id": "c", "output": {"type": "input_image"}},
        "items[0].output.type",
        "invalid_value",
    ),
    (
        "tool_search_call bad execution",
        {"type": "tool_search_call", "arguments": {}, "execution": "remote"},
        "items[0].execution",
        "invalid_value",
    ),
    (
        "tool_search_output tool without type",
        {"type": "tool_search_output", "tools": [{"name": "f"}]},
        "items[0].tools[0].type",
        "missing_required_parameter",
    ),
    (
        "additional_tools role user",
        {"type": "additional_tools", "role": "user", "tools": []},
        "items[0].role",
        "invalid_value",
    ),
    (
        "reasoning summary part of wrong type",
        {"type": "reasoning", "summary": [{"type": "output_text", "text": "x"}]},
        "items[0].summary[0].type",
        "invalid_value",
    ),
    (
        "reasoning without summary",
        {"type": "reasoning", "id": "rs_1"},
        "items[0].summary",
        "missing_required_parameter",
    ),
    (
        "program without fingerprint",
        {"type": "program", "call_id": "c", "code": "return 1;"},
        "items[0].fingerprint",
        "missing_required_parameter",
    ),
    (
        "program_output bad status",
        {"type": "program_output", "call_id": "c", "result": "", "status": "failed"},
        "items[0].status",
        "invalid_value",
    ),
    (
        "compaction without encrypted_content",
        {"type": "compaction"},
        "items[0].encrypted_content",
        "missing_required_parameter",
    ),
    (
        "code_interpreter_call bad output kind",
        {
            "type": "code_interpreter_call",
            "container_id": "cntr",
            "code": None,
            "outputs": [{"type": "file", "file_id": "f"}],
        },
        "items[0].outputs[0].type",
        "invalid_value",
    ),
    (
        "local_shell_call without env",
        {"type": "local_shell_call", "call_id": "c", "action": {"type": "exec", "command": ["ls"]}},
        "items[0].action.env",
        "missing_required_parameter",
    ),
    (
        "local_shell_call command not an array",
        {
            "type": "local_shell_call",
            "call_id": "c",
            "action": {"type": "exec", "command": "ls", "env": {}},
        },
        "items[0].action.command",
        "invalid_type",
    ),
    (
        "shell_call call_id empty",
        {"type": "shell_call", "call_id": "", "action": {"commands": ["ls"]}},
        "items[0].call_id",
        "string_below_min_length",
    ),
    (
        "shell_call_output output not an array",
        {"type": "shell_call_output", "call_id": "c", "output": "ok"},
        "items[0].output",
        "invalid_type",
    ),
    (
        "shell_call_output exit without exit_code",
        {
            "type": "shell_call_output",
            "call_id": "c",
            "output": [{"stdout": "", "stderr": "", "outcome": {"type": "exit"}}],
        },
        "items[0].output[0].outcome.exit_code",
        "missing_required_parameter",
    ),
    (
        "apply_patch_call unknown operation",
        {
            "type": "apply_patch_call",
            "call_id": "c",
            "status": "completed",
            "operation": {"type": "rename_file", "path": "a"},
        },
        "items[0].operation.type",
        "invalid_value",
    ),
    (
        "apply_patch_call empty path",
        {
            "type": "apply_patch_call",
            "call_id": "c",
            "status": "completed",
            "operation": {"type": "create_file", "path": "", "diff": "+x"},
        },
        "items[0].operation.path",
        "string_below_min_length",
    ),
    (
        "apply_patch_call update_file without diff",
        {
            "type": "apply_patch_call",
            "call_id": "c",
            "status": "completed",
            "operation": {"type": "update_file", "path": "a.txt"},
        },
        "items[0].operation.diff",
        "missing_required_parameter",
    ),
    (
        "apply_patch_call status failed",
        {
            "type": "apply_patch_call",
            "call_id": "c",
            "status": "failed",
            "operation": {"type": "delete_file", "path": "a"},
        },
        "items[0].status",
        "invalid_value",
    ),
    (
        "apply_patch_call_output status in_progress",
        {"type": "apply_patch_call_output", "call_id": "c", "status": "in_progress"},
        "items[0].status",
        "invalid_value",
    ),
    (
        "mcp_list_tools tool without input_schema",
        {"type": "mcp_list_tools", "server_label": "s", "tools": [{"name": "t"}]},
        "items[0].tools[0].input_schema",
        "missing_required_parameter",
    ),
    (
        "mcp_approval_request without arguments",
        {"type": "mcp_approval_request", "server_label": "s", "name": "t"},
        "items[0].arguments",
        "missing_required_parameter",
    ),
    (
        "mcp_approval_response approve a string",
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": "yes"},
        "items[0].approve",
        "invalid_type",
    ),
    (
        "mcp_call error code a string",
        {
            "type": "mcp_call",
            "server_label": "s",
            "name": "t",
            "arguments": "{}",
            "error": {"type": "http_error", "code": "502", "message": "Bad gateway"},
        },
        "items[0].error.code",
        "invalid_type",
    ),
    (
        "mcp_call bad status",
        {"type": "mcp_call", "server_label": "s", "name": "t", "arguments": "{}", "status": "done"},
        "items[0].status",
        "invalid_value",
    ),
    (
        "custom_tool_call without input",
        {"type": "custom_tool_call", "call_id": "c", "name": "t"},
        "items[0].input",
        "missing_required_parameter",
    ),
    (
        "custom_tool_call_output input_image without detail",
        {
            "type": "custom_tool_call_output",
            "call_id": "c",
            "output": [{"type": "input_image", "image_url": "https://x/y.png"}],
        },
        "items[0].output[0].detail",
        "missing_required_parameter",
    ),
]
